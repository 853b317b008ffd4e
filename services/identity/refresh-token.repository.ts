// SQL for refresh tokens. Plain functions taking (db | trx, …); the caller owns
// the transaction. Spending is one conditional UPDATE, so of two requests
// presenting the same token exactly one wins on every dialect.
import type { Kysely } from "kysely";
import type { IdentityDatabase, IdentityRefreshTokenRow } from "./identity.table.js";
import type { RefreshTokenRecord } from "./refresh-token.js";

type Db = Kysely<IdentityDatabase>;

export interface NewRefreshToken {
  id: string;
  tokenHash: string;
  familyId: string;
  userId: string;
  expireTime: Date;
}

export async function insertRefreshToken(db: Db, token: NewRefreshToken, now: Date): Promise<void> {
  await db
    .insertInto("identity_refresh_token")
    .values({
      id: token.id,
      token_hash: token.tokenHash,
      family_id: token.familyId,
      user_id: token.userId,
      create_time: now.toISOString(),
      expire_time: token.expireTime.toISOString(),
      spent_time: null,
      revoke_time: null,
    })
    .execute();
}

function rowToRecord(row: IdentityRefreshTokenRow): RefreshTokenRecord {
  return {
    id: row.id,
    familyId: row.family_id,
    userId: row.user_id,
    expireTime: new Date(row.expire_time),
    spentTime: row.spent_time === null ? undefined : new Date(row.spent_time),
    revokeTime: row.revoke_time === null ? undefined : new Date(row.revoke_time),
  };
}

export async function findRefreshTokenByHash(db: Db, tokenHash: string): Promise<RefreshTokenRecord | undefined> {
  const row = await db.selectFrom("identity_refresh_token").selectAll().where("token_hash", "=", tokenHash).executeTakeFirst();
  return row && rowToRecord(row);
}

/** Marks the token spent if nobody has spent or revoked it yet; false means someone else got there first. */
export async function spendRefreshToken(db: Db, id: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("identity_refresh_token")
    .set({ spent_time: now.toISOString() })
    .where("id", "=", id)
    .where("spent_time", "is", null)
    .where("revoke_time", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Revokes every not yet revoked token of the family; returns how many. */
export async function revokeRefreshTokenFamily(db: Db, familyId: string, now: Date): Promise<number> {
  const result = await db
    .updateTable("identity_refresh_token")
    .set({ revoke_time: now.toISOString() })
    .where("family_id", "=", familyId)
    .where("revoke_time", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Housekeeping: forgets tokens that expired before `cutoff`; presenting one afterwards is just "not valid". */
export async function deleteRefreshTokensExpiredBefore(db: Db, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom("identity_refresh_token").where("expire_time", "<", cutoff.toISOString()).executeTakeFirst();
  return Number(result.numDeletedRows);
}
