// SQL for signed-out sessions. Plain functions taking (db | trx, …); the
// caller owns the transaction (the row, the refresh-token family's revocation
// and the SessionRevoked outbox row commit together).
import type { Kysely } from "kysely";
import { isMssql } from "../../platform/sql/index.js";
import type { IdentityDatabase, IdentitySessionRevocationRow } from "./identity.table.js";

type Db = Kysely<IdentityDatabase>;

export interface SessionRevocationRecord {
  sessionId: string;
  userId: string;
  revokeTime: Date;
  accessExpireTime: Date;
}

export async function insertSessionRevocation(db: Db, revocation: SessionRevocationRecord): Promise<void> {
  await db
    .insertInto("identity_session_revocation")
    .values({
      session_id: revocation.sessionId,
      user_id: revocation.userId,
      revoke_time: revocation.revokeTime.toISOString(),
      access_expire_time: revocation.accessExpireTime.toISOString(),
    })
    .execute();
}

function rowToRevocation(row: IdentitySessionRevocationRow): SessionRevocationRecord {
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    revokeTime: new Date(row.revoke_time),
    accessExpireTime: new Date(row.access_expire_time),
  };
}

/** Up to `limit` revocations whose tokens are still valid after `validAfter`, by session id, starting after `afterSessionId`. */
export async function listSessionRevocations(db: Db, validAfter: Date, afterSessionId: string, limit: number): Promise<SessionRevocationRecord[]> {
  const query = db
    .selectFrom("identity_session_revocation")
    .selectAll()
    .where("access_expire_time", ">", validAfter.toISOString())
    .where("session_id", ">", afterSessionId)
    .orderBy("session_id");
  const rows = await (isMssql(db) ? query.top(limit) : query.limit(limit)).execute();
  return rows.map(rowToRevocation);
}

/** Housekeeping: forgets revocations whose tokens all expired before `cutoff`. */
export async function deleteSessionRevocationsExpiredBefore(db: Db, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom("identity_session_revocation").where("access_expire_time", "<", cutoff.toISOString()).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Every revocation whose tokens are still valid after `validAfter`, read page by page. */
export async function listAllSessionRevocations(db: Db, validAfter: Date, pageSize = 1000): Promise<SessionRevocationRecord[]> {
  const all: SessionRevocationRecord[] = [];
  let afterSessionId = "";
  while (true) {
    const page = await listSessionRevocations(db, validAfter, afterSessionId, pageSize);
    all.push(...page);
    const last = page.at(-1);
    if (page.length < pageSize || !last) return all;
    afterSessionId = last.sessionId;
  }
}
