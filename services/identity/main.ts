// Identity's wiring, top to bottom: config → logger → database (migrated) →
// key-encryption key → signing keys → admin seed → maintenance timer → gRPC
// server. Nothing else happens here. Run directly (node
// services/identity/main.ts, or dist/services/identity/main.js) it reads the
// environment and drains on SIGTERM/SIGINT; tests and the mesh launcher call
// startIdentity instead.
import type { Kysely } from "kysely";
import { IdentityServiceService } from "../../gen/mel/identity/v1/identity.js";
import { createTokenTrust } from "../../platform/auth/index.js";
import { createGrpcServer, createGrpcServerTransport } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { createShutdownSteps, isEntryPoint, runAsMain, stopAfterDrain } from "../../platform/process/index.js";
import { createDatabase, migrateToLatest } from "../../platform/sql/index.js";
import { seedAdmin } from "./account-flow.js";
import { type IdentityConfig, loadIdentityConfig } from "./config.js";
import { createIdentityService } from "./identity.grpc.js";
import type { IdentityDatabase } from "./identity.table.js";
import { resolveKeyEncryptionKey } from "./key-encryption-key.js";
import { startMaintenance } from "./maintenance.js";
import { identityMigrations, identityMigrationTablePrefix } from "./migrations/index.js";
import { createPasswordHasher } from "./password-hash.js";
import { createSessionFlow } from "./session-flow.js";
import { createSigningKeyRing, type SigningKeyRing } from "./signing-key-ring.js";

export interface StartIdentityOptions {
  config: IdentityConfig;
  logger?: Logger;
  /** Clock for tests. */
  now?: () => Date;
  /** How long signing keys read from the database are reused (default 10 s). */
  keyCacheTtlMs?: number;
}

export interface RunningIdentity {
  /** The port the gRPC server bound (useful with MEL_IDENTITY_PORT=0). */
  port: number;
  db: Kysely<IdentityDatabase>;
  keyRing: SigningKeyRing;
  /** Drains the server, stops maintenance, closes the database. */
  stop(): Promise<void>;
}

export async function startIdentity(options: StartIdentityOptions): Promise<RunningIdentity> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ service: "identity", level: config.logLevel });
  const now = options.now ?? (() => new Date());

  const db = createDatabase<IdentityDatabase>(config.databaseUrl, { variable: "MEL_IDENTITY_DATABASE_URL", defaultSqliteFile: "data/identity.db", logger });
  const shutdown = createShutdownSteps("identity", logger);
  shutdown.add(() => db.destroy());
  try {
    await migrateToLatest(db, identityMigrations, { tablePrefix: identityMigrationTablePrefix, logger });

    const keyEncryptionKey = resolveKeyEncryptionKey({
      configured: config.keyEncryptionKey,
      production: config.production,
      devKeyFile: config.devKeyFile,
      logger,
    });
    const keyRing = createSigningKeyRing({
      db,
      algorithm: config.signingAlgorithm,
      keyEncryptionKey,
      accessTokenTtlSeconds: config.tokens.ttlSeconds,
      clockSkewSeconds: config.tokens.clockSkewSeconds,
      ...(options.keyCacheTtlMs === undefined ? {} : { cacheTtlMs: options.keyCacheTtlMs }),
      logger,
      now,
    });
    await keyRing.ensureUsableCurrentKey();

    const hasher = createPasswordHasher(config.scrypt);
    await seedAdmin(db, hasher, config.admin, config.passwordPolicy, logger, now());

    const maintenance = startMaintenance({
      db,
      keyRing,
      keyRotationIntervalMs: config.keyRotationIntervalMs,
      throttleWindowMs: config.loginThrottle.windowSeconds * 1000,
      logger,
      now,
    });
    shutdown.add(() => maintenance.stop());

    // Identity verifies its own callers with its own keys, without a gRPC call to itself.
    // The key ring caches (and forgets on rotation and removal), so the verifier asks it every time.
    const { authenticate } = createTokenTrust({
      jwks: () => keyRing.jwks(),
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      clockSkewSeconds: config.tokens.clockSkewSeconds,
      jwksMaxAgeMs: 0,
      unknownKidCooldownMs: 0,
      logger,
    });
    const sessions = createSessionFlow({ db, hasher, keyRing, tokens: config.tokens, loginThrottle: config.loginThrottle, logger, now });
    const server = createGrpcServer({ serviceName: "identity", logger, ...createGrpcServerTransport(config.grpc).serverOptions });
    server.addService(
      IdentityServiceService,
      createIdentityService({ db, hasher, sessions, keyRing, passwordPolicy: config.passwordPolicy, authenticate, logger, now }),
    );
    const port = await server.listen(config.host, config.port);
    return { port, db, keyRing, stop: stopAfterDrain(server, config.drainMs, shutdown) };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

if (isEntryPoint(import.meta.url)) {
  runAsMain({
    name: "identity",
    loadConfig: () => loadIdentityConfig(),
    start: (config, logger) => startIdentity({ config, logger }),
  });
}
