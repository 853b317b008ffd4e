// SQL for signing keys. Plain functions taking (db | trx, …); the caller owns
// the transaction. Rows hold the public JWK in clear and the private JWK sealed.
import type { Kysely } from "kysely";
import type { IdentityDatabase, IdentitySigningKeyRow } from "./identity.table.js";

type Db = Kysely<IdentityDatabase>;

export interface NewSigningKeyRow {
  kid: string;
  alg: string;
  publicJwk: string;
  sealedPrivateJwk: string;
}

export async function insertSigningKey(db: Db, key: NewSigningKeyRow, now: Date): Promise<void> {
  await db
    .insertInto("identity_signing_key")
    .values({
      kid: key.kid,
      alg: key.alg,
      public_jwk: key.publicJwk,
      sealed_private_jwk: key.sealedPrivateJwk,
      create_time: now.toISOString(),
      retire_time: null,
      verify_until: null,
    })
    .execute();
}

/**
 * Keys not retired, newest first. Normally one; two when instances rotated at
 * the same moment, and then the newest signs.
 */
export async function listActiveSigningKeys(db: Db): Promise<IdentitySigningKeyRow[]> {
  return db.selectFrom("identity_signing_key").selectAll().where("retire_time", "is", null).orderBy("create_time", "desc").orderBy("kid").execute();
}

/** Keys whose tokens can still be valid at `now`: the active ones and retired ones not yet past verify_until. */
export async function listVerifiableSigningKeys(db: Db, now: Date): Promise<IdentitySigningKeyRow[]> {
  return db
    .selectFrom("identity_signing_key")
    .selectAll()
    .where((eb) => eb.or([eb("verify_until", "is", null), eb("verify_until", ">", now.toISOString())]))
    .orderBy("create_time", "desc")
    .orderBy("kid")
    .execute();
}

/** Retires every active key but `currentKid`; they stay verifiable until `verifyUntil`. */
export async function retireSigningKeysExcept(db: Db, currentKid: string, now: Date, verifyUntil: Date): Promise<number> {
  const result = await db
    .updateTable("identity_signing_key")
    .set({ retire_time: now.toISOString(), verify_until: verifyUntil.toISOString() })
    .where("retire_time", "is", null)
    .where("kid", "!=", currentKid)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Deletes retired keys no token can need any more; returns how many. */
export async function deleteSigningKeysUnverifiableAt(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom("identity_signing_key").where("verify_until", "<=", now.toISOString()).executeTakeFirst();
  return Number(result.numDeletedRows);
}
