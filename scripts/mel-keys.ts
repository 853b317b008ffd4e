// `mel keys rotate` and `mel keys list`: identity's signing keys, straight in
// identity's database (MEL_IDENTITY_DATABASE_URL, sealed with
// MEL_IDENTITY_KEY_ENCRYPTION_KEY or the development key). Running identity
// instances pick a rotation up within their key cache period (10 s).
import { parseArgs } from "node:util";
import type { Kysely } from "kysely";
import { createLogger, type Logger } from "../platform/log/index.js";
import { createDatabase, migrateToLatest } from "../platform/sql/index.js";
import { loadIdentityConfig } from "../services/identity/config.js";
import type { IdentityDatabase } from "../services/identity/identity.table.js";
import { resolveKeyEncryptionKey } from "../services/identity/key-encryption-key.js";
import { identityMigrations, identityMigrationTablePrefix } from "../services/identity/migrations/index.js";
import { listVerifiableSigningKeys } from "../services/identity/signing-key.repository.js";
import { createSigningKeyRing, type SigningKeyRing } from "../services/identity/signing-key-ring.js";
import type { CliCommand, CliIo } from "./mel.js";

function cliLogger(io: CliIo): Logger {
  return createLogger({ service: "mel keys", level: "warn", destination: { write: (line: string) => io.err(line.trimEnd()) } });
}

async function withKeyRing<T>(io: CliIo, work: (ring: SigningKeyRing, db: Kysely<IdentityDatabase>) => Promise<T>): Promise<T> {
  const config = loadIdentityConfig(io.env);
  const logger = cliLogger(io);
  const db = createDatabase<IdentityDatabase>(config.databaseUrl, { variable: "MEL_IDENTITY_DATABASE_URL", defaultSqliteFile: "data/identity.db", logger });
  try {
    await migrateToLatest(db, identityMigrations, { tablePrefix: identityMigrationTablePrefix, logger });
    const ring = createSigningKeyRing({
      db,
      algorithm: config.signingAlgorithm,
      keyEncryptionKey: resolveKeyEncryptionKey({ configured: config.keyEncryptionKey, production: config.production, devKeyFile: config.devKeyFile, logger }),
      accessTokenTtlSeconds: config.tokens.ttlSeconds,
      clockSkewSeconds: config.tokens.clockSkewSeconds,
      logger,
    });
    return await work(ring, db);
  } finally {
    await db.destroy();
  }
}

const rotate: CliCommand = {
  summary: "make a new current signing key; older keys verify until their last token expires",
  usage: "keys rotate [--json]",
  async run(args, io) {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    const rotated = await withKeyRing(io, (ring) => ring.rotate());
    if (values.json) io.out(JSON.stringify(rotated));
    else io.out(`new current signing key ${rotated.kid} (${rotated.alg}); running identity instances use it within 10 s`);
    return 0;
  },
};

const list: CliCommand = {
  summary: "show the signing keys in the JWKS (current first), never their private parts",
  usage: "keys list [--json]",
  async run(args, io) {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    const rows = await withKeyRing(io, (_ring, db) => listVerifiableSigningKeys(db, new Date()));
    const keys = rows.map((row) => ({ kid: row.kid, alg: row.alg, created: row.create_time, retired: row.retire_time, verifyUntil: row.verify_until }));
    if (values.json) {
      io.out(JSON.stringify(keys, null, 2));
      return 0;
    }
    for (const key of keys)
      io.out(`${key.kid}  ${key.alg}  created ${key.created}  ${key.retired ? `retired ${key.retired}, verifies until ${key.verifyUntil}` : "current"}`);
    return 0;
  },
};

export const keysCommands: Record<string, CliCommand> = { rotate, list };
