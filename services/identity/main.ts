// Identity's wiring, top to bottom: config → logger → database (migrated) →
// key-encryption key → signing keys → admin seed → maintenance timer → event
// bus, outbox relay (SessionRevoked) and this instance's signed-out sessions →
// gRPC server. Nothing else happens here. Run directly (node
// services/identity/main.ts, or dist/services/identity/main.js) it reads the
// environment and drains on SIGTERM/SIGINT; tests and the mesh launcher call
// startIdentity instead.
import type { Kysely } from "kysely";
import { IdentityServiceService } from "../../gen/mel/identity/v1/identity.js";
import { SessionRevocationServiceService } from "../../gen/mel/identity/v1/session_revocations.js";
import { createSessionRevocations, createSessionRevokedHandler, createTokenTrust } from "../../platform/auth/index.js";
import { createEventBus, createOutboxRelay, instanceQueueName, type OutboxRelay } from "../../platform/events/index.js";
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
import { createSessionRevocationService } from "./session-revocation.grpc.js";
import { listAllSessionRevocations } from "./session-revocation.repository.js";
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
  /** Publishes the outbox (SessionRevoked events). */
  relay: OutboxRelay;
  /** Drains the server, stops maintenance and the relay, closes the broker and the database. */
  stop(): Promise<void>;
}

export async function startIdentity(options: StartIdentityOptions): Promise<RunningIdentity> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ service: "identity", level: config.logLevel });
  const now = options.now ?? (() => new Date());

  const db = createDatabase<IdentityDatabase>(config.databaseUrl, {
    variable: "MEL_IDENTITY_DATABASE_URL",
    defaultSqliteFile: "data/identity.db",
    maxConnections: config.databaseMaxConnections,
    logger,
  });
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

    const bus = shutdown.closing(
      await createEventBus({ url: config.messaging.rabbitMqUrl, logger, exchange: config.messaging.exchange, connectionName: "identity" }),
    );
    const relay = createOutboxRelay({ db, bus, logger, pollIntervalMs: config.messaging.outboxPollMs });
    relay.start();
    shutdown.add(() => relay.stop());

    // Identity refuses signed-out sessions on its own methods as every service does: from memory, told
    // by SessionRevoked on a queue of this instance's own (other instances end sessions too), after
    // reading what its database holds. The queue is named under the exchange: identity has no work queue.
    const revokedSessions = createSessionRevocations({ graceMs: config.tokens.clockSkewSeconds * 1000, clock: () => now().getTime() });
    const revocationFeed = await bus.subscribe({
      queue: instanceQueueName(`${config.messaging.exchange}.identity`),
      instance: {},
      handlers: { SessionRevoked: createSessionRevokedHandler(revokedSessions, logger) },
    });
    shutdown.add(() => revocationFeed.close());
    const validAfter = new Date(now().getTime() - config.tokens.clockSkewSeconds * 1000);
    for (const revocation of await listAllSessionRevocations(db, validAfter)) revokedSessions.add(revocation.sessionId, revocation.accessExpireTime);

    // Identity verifies its own callers with its own keys, without a gRPC call to itself.
    // The key ring caches (and forgets on rotation and removal), so the verifier asks it every time.
    const { authenticate } = createTokenTrust({
      jwks: () => keyRing.jwks(),
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      clockSkewSeconds: config.tokens.clockSkewSeconds,
      jwksMaxAgeMs: 0,
      unknownKidCooldownMs: 0,
      revokedSessions,
      logger,
    });
    const sessions = createSessionFlow({
      db,
      hasher,
      keyRing,
      tokens: config.tokens,
      loginThrottle: config.loginThrottle,
      relay,
      revokedSessions,
      logger,
      now,
    });
    const server = createGrpcServer({ serviceName: "identity", logger, ...createGrpcServerTransport(config.grpc).serverOptions });
    server.addService(
      IdentityServiceService,
      createIdentityService({ db, hasher, sessions, keyRing, passwordPolicy: config.passwordPolicy, authenticate, logger, now }),
    );
    server.addService(
      SessionRevocationServiceService,
      createSessionRevocationService({ db, authenticate, clockSkewSeconds: config.tokens.clockSkewSeconds, logger, now }),
    );
    const port = await server.listen(config.host, config.port);
    return { port, db, keyRing, relay, stop: stopAfterDrain(server, config.drainMs, shutdown) };
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
