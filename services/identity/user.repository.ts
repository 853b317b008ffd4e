// SQL for accounts and their roles. Plain functions taking (db | trx, …) so the
// caller owns the transaction; every statement compiles for SQLite, PostgreSQL
// and SQL Server (identity.repository.test.ts checks all three).
import type { Kysely } from "kysely";
import { isUniqueViolation } from "../../platform/sql/index.js";
import type { IdentityDatabase, IdentityUserRow } from "./identity.table.js";
import { sortedRoles, type User, type UserWithPasswordHash } from "./user.js";

type Db = Kysely<IdentityDatabase>;

export interface NewUser {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string;
  roles: string[];
}

/**
 * Inserts the user and its roles. Returns "email-taken" when another account
 * has the email; on PostgreSQL that aborts the caller's transaction, so the
 * caller must stop and roll back.
 */
export async function insertUser(db: Db, user: NewUser, now: Date): Promise<"inserted" | "email-taken"> {
  const time = now.toISOString();
  try {
    await db
      .insertInto("identity_user")
      .values({ id: user.id, email: user.email, display_name: user.displayName, password_hash: user.passwordHash, create_time: time, update_time: time })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) return "email-taken";
    throw error;
  }
  const roles = sortedRoles(user.roles);
  if (roles.length > 0)
    await db
      .insertInto("identity_user_role")
      .values(roles.map((role) => ({ user_id: user.id, role, grant_time: time })))
      .execute();
  return "inserted";
}

function rowToUser(row: IdentityUserRow, roles: string[]): User {
  return { id: row.id, email: row.email, displayName: row.display_name, roles: sortedRoles(roles), createTime: new Date(row.create_time) };
}

export async function listRoles(db: Db, userId: string): Promise<string[]> {
  const rows = await db.selectFrom("identity_user_role").select("role").where("user_id", "=", userId).orderBy("role").execute();
  return rows.map((row) => row.role);
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  const row = await db.selectFrom("identity_user").selectAll().where("id", "=", id).executeTakeFirst();
  return row && rowToUser(row, await listRoles(db, row.id));
}

/** The account with `email` (already normalised) and its password hash, for sign-in. */
export async function findUserByEmail(db: Db, email: string): Promise<UserWithPasswordHash | undefined> {
  const row = await db.selectFrom("identity_user").selectAll().where("email", "=", email).executeTakeFirst();
  return row && { ...rowToUser(row, await listRoles(db, row.id)), passwordHash: row.password_hash };
}

export async function updatePasswordHash(db: Db, userId: string, passwordHash: string, now: Date): Promise<void> {
  await db.updateTable("identity_user").set({ password_hash: passwordHash, update_time: now.toISOString() }).where("id", "=", userId).execute();
}

/** Gives `role` to the user; already having it is not an error. Returns false when it was already there. */
export async function addRole(db: Db, userId: string, role: string, now: Date): Promise<boolean> {
  const existing = await db.selectFrom("identity_user_role").select("role").where("user_id", "=", userId).where("role", "=", role).executeTakeFirst();
  if (existing) return false;
  try {
    await db.insertInto("identity_user_role").values({ user_id: userId, role, grant_time: now.toISOString() }).execute();
    return true;
  } catch (error) {
    // A concurrent grant of the same role won the race: the outcome is the one asked for.
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

/** Takes `role` away; not having it is not an error. Returns false when it was not there. */
export async function removeRole(db: Db, userId: string, role: string): Promise<boolean> {
  const result = await db.deleteFrom("identity_user_role").where("user_id", "=", userId).where("role", "=", role).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function countUsersWithRole(db: Db, role: string): Promise<number> {
  const row = await db
    .selectFrom("identity_user_role")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .where("role", "=", role)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
