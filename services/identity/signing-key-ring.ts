// The signing keys as the service uses them: the current key to sign with and
// the JWKS to verify with, read from the database through a short cache (so
// several identity instances and the `keys rotate` CLI agree within a few
// seconds), rotation, and removal of keys no token can need any more.
import type { JSONWebKeySet } from "jose";
import type { Kysely } from "kysely";
import type { Logger } from "../../platform/log/index.js";
import type { IdentityDatabase, IdentitySigningKeyRow } from "./identity.table.js";
import {
  generateSigningKey,
  type KeyEncryptionKey,
  openSealedPrivateJwk,
  publicJwkOf,
  type SigningAlgorithm,
  type SigningKey,
  sealPrivateJwk,
  signingAlgorithms,
  toSigningKey,
} from "./signing-key.js";
import {
  deleteSigningKeysUnverifiableAt,
  insertSigningKey,
  listActiveSigningKeys,
  listVerifiableSigningKeys,
  retireSigningKeysExcept,
} from "./signing-key.repository.js";

export interface SigningKeyRingOptions {
  db: Kysely<IdentityDatabase>;
  /** Algorithm of keys created from now on; existing keys keep theirs. */
  algorithm: SigningAlgorithm;
  keyEncryptionKey: KeyEncryptionKey;
  /** Longest access-token lifetime: a retired key stays in the JWKS this long (plus skew and cache) after retiring. */
  accessTokenTtlSeconds: number;
  /** Clock skew verifiers allow. */
  clockSkewSeconds: number;
  /** How long keys read from the database are reused before reading again. Default 10 s. */
  cacheTtlMs?: number;
  logger: Logger;
  now?: () => Date;
}

export interface RotatedKey {
  kid: string;
  alg: SigningAlgorithm;
}

export interface SigningKeyRing {
  /** The key to sign with now; creates the first key of an empty database. */
  currentKey(): Promise<SigningKey>;
  /** Public keys of every key whose tokens can still be valid: the current one and recently retired ones. */
  jwks(): Promise<JSONWebKeySet>;
  /** Makes a new key current; the previous ones stay verifiable until their last token has expired. */
  rotate(): Promise<RotatedKey>;
  /** Rotates when the current key is at least `maxAgeMs` old (or there is none); undefined otherwise. */
  rotateIfOlderThan(maxAgeMs: number): Promise<RotatedKey | undefined>;
  /** Deletes retired keys no token can need any more; returns how many. */
  prune(): Promise<number>;
  /** At start-up: makes sure a current key exists that opens with the configured key-encryption key. */
  ensureUsableCurrentKey(): Promise<SigningKey>;
}

interface Snapshot {
  loadedAt: number;
  current: IdentitySigningKeyRow | undefined;
  jwks: JSONWebKeySet;
}

function isSigningAlgorithm(alg: string): alg is SigningAlgorithm {
  return (signingAlgorithms as readonly string[]).includes(alg);
}

export function createSigningKeyRing(options: SigningKeyRingOptions): SigningKeyRing {
  const { db, keyEncryptionKey, logger } = options;
  const now = options.now ?? (() => new Date());
  const cacheTtlMs = options.cacheTtlMs ?? 10_000;
  // Another instance may keep signing with a key for up to one cache period after it retired.
  const retentionMs = (options.accessTokenTtlSeconds + options.clockSkewSeconds) * 1000 + cacheTtlMs;

  let snapshot: Snapshot | undefined;
  let loading: Promise<Snapshot> | undefined;
  const unsealed = new Map<string, Promise<SigningKey>>();

  function rowJwk(row: IdentitySigningKeyRow) {
    if (!isSigningAlgorithm(row.alg)) throw new Error(`signing key ${row.kid} has algorithm ${row.alg}; expected one of ${signingAlgorithms.join(", ")}`);
    // Re-filtered on the way out: the JWKS can only ever carry public members.
    return publicJwkOf(JSON.parse(row.public_jwk), row.kid, row.alg);
  }

  async function load(): Promise<Snapshot> {
    const at = now();
    const rows = await listVerifiableSigningKeys(db, at);
    const current = rows.find((row) => row.retire_time === null);
    return { loadedAt: Date.now(), current, jwks: { keys: rows.map(rowJwk) } };
  }

  async function fresh(): Promise<Snapshot> {
    if (snapshot && Date.now() - snapshot.loadedAt < cacheTtlMs) return snapshot;
    loading ??= load().finally(() => {
      loading = undefined;
    });
    snapshot = await loading;
    return snapshot;
  }

  function unseal(row: IdentitySigningKeyRow): Promise<SigningKey> {
    let key = unsealed.get(row.kid);
    if (!key) {
      const alg = row.alg;
      if (!isSigningAlgorithm(alg)) throw new Error(`signing key ${row.kid} has algorithm ${alg}; expected one of ${signingAlgorithms.join(", ")}`);
      key = (async () => {
        const privateJwk = openSealedPrivateJwk(row.sealed_private_jwk, row.kid, keyEncryptionKey);
        return toSigningKey({ kid: row.kid, alg, publicJwk: rowJwk(row), privateJwk });
      })();
      key.catch(() => unsealed.delete(row.kid));
      unsealed.set(row.kid, key);
    }
    return key;
  }

  async function rotate(): Promise<RotatedKey> {
    const material = await generateSigningKey(options.algorithm);
    const at = now();
    await db.transaction().execute(async (trx) => {
      await insertSigningKey(
        trx,
        {
          kid: material.kid,
          alg: material.alg,
          publicJwk: JSON.stringify(material.publicJwk),
          sealedPrivateJwk: sealPrivateJwk(material.privateJwk, material.kid, keyEncryptionKey),
        },
        at,
      );
      await retireSigningKeysExcept(trx, material.kid, at, new Date(at.getTime() + retentionMs));
      await deleteSigningKeysUnverifiableAt(trx, at);
    });
    snapshot = undefined;
    logger.info({ kid: material.kid, alg: material.alg }, "signing key rotated");
    return { kid: material.kid, alg: material.alg };
  }

  async function currentKey(): Promise<SigningKey> {
    let { current } = await fresh();
    if (!current) {
      await rotate();
      ({ current } = await fresh());
      if (!current) throw new Error("no current signing key after creating one; is another process deleting keys?");
    }
    return unseal(current);
  }

  return {
    currentKey,
    async jwks() {
      return (await fresh()).jwks;
    },
    rotate,
    async rotateIfOlderThan(maxAgeMs) {
      const [newest] = await listActiveSigningKeys(db);
      if (newest && now().getTime() - new Date(newest.create_time).getTime() < maxAgeMs) return undefined;
      return rotate();
    },
    async prune() {
      const removed = await deleteSigningKeysUnverifiableAt(db, now());
      if (removed > 0) {
        snapshot = undefined;
        logger.info({ removed }, "signing keys past their last token's expiry removed");
      }
      return removed;
    },
    async ensureUsableCurrentKey() {
      try {
        return await currentKey();
      } catch (error) {
        // The key-encryption key changed (or a dev key was lost): sign with a new key; tokens
        // of the old one still verify, since only its private part is unreadable.
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, "the current signing key cannot be used; rotating to a new one");
        await rotate();
        return currentKey();
      }
    },
  };
}
