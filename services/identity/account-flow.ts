// Accounts as the service changes them: registration, role grants and the demo
// admin seeded at start-up. Validation happens before (user.ts); here are the
// repository calls and the rules that need the database.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { AlreadyExistsError, ErrorReason, FailedPreconditionError, NotFoundError } from "../../platform/errors/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { IdentityDatabase } from "./identity.table.js";
import type { PasswordHasher } from "./password-hash.js";
import { adminRole, buyerRole, type PasswordPolicy, type User, validateEmail, validateNewPassword } from "./user.js";
import { addRole, countUsersWithRole, findUserByEmail, findUserById, insertUser, removeRole } from "./user.repository.js";

type Db = Kysely<IdentityDatabase>;

export interface NewAccount {
  /** Normalised. */
  email: string;
  password: string;
  displayName: string;
}

/** Creates a buyer account; AlreadyExistsError when the email is taken. */
export async function registerAccount(db: Db, hasher: PasswordHasher, account: NewAccount, now: Date, roles: string[] = [buyerRole]): Promise<User> {
  // Hashed outside the transaction: it takes a third of a second and needs no lock.
  const passwordHash = await hasher.hash(account.password);
  const id = randomUUID();
  return db.transaction().execute(async (trx) => {
    const inserted = await insertUser(trx, { id, email: account.email, displayName: account.displayName, passwordHash, roles }, now);
    if (inserted === "email-taken")
      throw new AlreadyExistsError("an account with this email already exists; sign in, or register with another email", { reason: ErrorReason.EMAIL_TAKEN });
    return requireUser(await findUserById(trx, id), id);
  });
}

/**
 * No transaction: one insert, and addRole absorbs a concurrent grant's unique
 * violation, which on PostgreSQL would abort an enclosing transaction.
 */
export async function grantRole(db: Db, userId: string, role: string, now: Date): Promise<User> {
  if (!(await findUserById(db, userId))) throw new NotFoundError(`no user has id "${userId}"`);
  await addRole(db, userId, role, now);
  const user = await findUserById(db, userId);
  if (!user) throw new NotFoundError(`user ${userId} was deleted while the role was being granted`);
  return user;
}

export async function revokeRole(db: Db, userId: string, role: string): Promise<User> {
  return db.transaction().execute(async (trx) => {
    const user = await findUserById(trx, userId);
    if (!user) throw new NotFoundError(`no user has id "${userId}"`);
    if (role === adminRole && user.roles.includes(adminRole) && (await countUsersWithRole(trx, adminRole)) <= 1) {
      throw new FailedPreconditionError(`user ${userId} is the last admin; grant "${adminRole}" to someone else before revoking it here`, {
        reason: ErrorReason.LAST_ADMIN,
      });
    }
    await removeRole(trx, userId, role);
    return requireUser(await findUserById(trx, userId), userId);
  });
}

/** A user read back inside the transaction that wrote it; absent only if the database lost the write. */
function requireUser(user: User | undefined, id: string): User {
  if (user === undefined) throw new Error(`user ${id} is not readable in the transaction that just wrote it`);
  return user;
}

export interface AdminSeed {
  email: string;
  /** From MEL_IDENTITY_ADMIN_PASSWORD only; undefined means no admin is seeded. */
  password: string | undefined;
}

/**
 * Makes sure the demo admin exists: creates it with the configured password,
 * or gives an existing account with that email the admin role. An existing
 * password is never overwritten. Returns the admin's id, or undefined when no
 * password was configured.
 */
export async function seedAdmin(
  db: Db,
  hasher: PasswordHasher,
  seed: AdminSeed,
  policy: PasswordPolicy,
  logger: Logger,
  now: Date,
): Promise<string | undefined> {
  if (seed.password === undefined) {
    logger.warn("MEL_IDENTITY_ADMIN_PASSWORD is not set: no admin account is seeded");
    return undefined;
  }
  const email = validateEmail(seed.email, "MEL_IDENTITY_ADMIN_EMAIL");
  validateNewPassword(seed.password, policy, "MEL_IDENTITY_ADMIN_PASSWORD");
  const existing = await findUserByEmail(db, email);
  if (existing) {
    if (await addRole(db, existing.id, adminRole, now)) logger.info({ userId: existing.id }, "admin role given to the configured admin email");
    return existing.id;
  }
  try {
    const admin = await registerAccount(db, hasher, { email, password: seed.password, displayName: "Admin" }, now, [adminRole]);
    logger.info({ userId: admin.id, email }, "admin account seeded");
    return admin.id;
  } catch (error) {
    // Another instance seeded it at the same moment.
    if (error instanceof AlreadyExistsError) return (await findUserByEmail(db, email))?.id;
    throw error;
  }
}
