// Catalog's wiring, top to bottom: config → logger → database (migrated,
// seeded) → event bus, outbox relay → gRPC server and event consumers.
// startCatalog runs it in-process (tests, the mesh launcher on port 0); run
// directly, this file reads the environment and drains on SIGTERM.
import type { Kysely } from "kysely";
import { CatalogServiceService } from "../../gen/mel/catalog/v1/catalog.js";
import { startServiceAuthenticate, whenSessionsLoaded } from "../../platform/auth/index.js";
import { createEventBus, createOutboxRelay, type EventBus, type OutboxRelay } from "../../platform/events/index.js";
import { type Authenticate, createGrpcServer, createGrpcServerTransport, type GrpcServer } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { createShutdownSteps, isEntryPoint, runAsMain, stopAfterDrain } from "../../platform/process/index.js";
import { createDatabase, migrateToLatest } from "../../platform/sql/index.js";
import { createCatalogService } from "./catalog.grpc.js";
import { type CatalogConfig, loadCatalogConfig } from "./config.js";
import { isCatalogEmpty, seedDemoCatalog } from "./demo-catalog.js";
import { createOrderStatusChangedToAwaitingValidationHandler } from "./events/order-status-changed-to-awaiting-validation.handler.js";
import { createOrderStatusChangedToCancelledHandler } from "./events/order-status-changed-to-cancelled.handler.js";
import { createOrderStatusChangedToPaidHandler } from "./events/order-status-changed-to-paid.handler.js";
import type { CatalogDatabase } from "./item.table.js";
import { catalogMigrations } from "./migrations/index.js";

export interface StartCatalogOptions {
  config: CatalogConfig;
  logger?: Logger;
  /** Replaces verification against identity's JWKS (tests that sign their own tokens). */
  authenticate?: Authenticate;
}

export interface RunningCatalog {
  /** The bound gRPC port (the real one when config.port was 0). */
  port: number;
  db: Kysely<CatalogDatabase>;
  bus: EventBus;
  relay: OutboxRelay;
  server: GrpcServer;
  /** Drains gRPC, stops consuming and relaying, closes the broker and the database. */
  stop(): Promise<void>;
}

export async function startCatalog({ config, ...options }: StartCatalogOptions): Promise<RunningCatalog> {
  const logger = options.logger ?? createLogger({ service: "catalog", level: config.logLevel });
  const db = createDatabase<CatalogDatabase>(config.databaseUrl, {
    variable: "MEL_CATALOG_DATABASE_URL",
    maxConnections: config.databaseMaxConnections,
  });
  const shutdown = createShutdownSteps("catalog", logger);
  shutdown.add(() => db.destroy());

  try {
    await migrateToLatest(db, catalogMigrations, { tablePrefix: "catalog", logger });
    if (config.seedDemoData) await seedOnFirstStart(db, logger);

    const bus = shutdown.closing(await createEventBus({ url: config.rabbitMqUrl, logger, exchange: config.exchange, connectionName: "catalog" }));
    const relay = createOutboxRelay({ db, bus, logger, pollIntervalMs: config.outboxPollMs, retentionMs: config.outboxRetentionMs });
    relay.start();
    shutdown.add(() => relay.stop());

    const transport = createGrpcServerTransport(config.grpc);
    // Loaded with the sessions signed out so far, and told of later sign-outs, before this instance serves.
    const authenticate =
      options.authenticate ??
      shutdown.closing(await startServiceAuthenticate(config.trust, { bus, queue: config.queue, logger, ...transport.clientOptions("identity") }));
    const server = createGrpcServer({ serviceName: "catalog", logger, ...transport.serverOptions });
    // Until it can tell a signed-out session from a live one it refuses every token, so it takes no traffic before.
    server.readyWhen(whenSessionsLoaded(authenticate), "the signed-out sessions are loaded from identity");
    server.addService(CatalogServiceService, createCatalogService({ db, authenticate, relay, logger }));

    const handlerDeps = { db, relay, logger };
    const subscription = await bus.subscribe({
      queue: config.queue,
      handlers: {
        OrderStatusChangedToAwaitingValidation: createOrderStatusChangedToAwaitingValidationHandler(handlerDeps),
        OrderStatusChangedToPaid: createOrderStatusChangedToPaidHandler(handlerDeps),
        OrderStatusChangedToCancelled: createOrderStatusChangedToCancelledHandler(handlerDeps),
      },
      prefetch: config.eventPrefetch,
      retryDelaysMs: config.eventRetryDelaysMs,
      quorum: config.quorumQueues,
    });
    shutdown.add(() => subscription.close());

    const port = await server.listen(config.host, config.port);
    return { port, db, bus, relay, server, stop: stopAfterDrain(server, config.drainMs, shutdown) };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

/**
 * Seeds an empty catalogue. Two instances starting together on one fresh
 * database race here: the loser's insert fails on the demo ids the winner
 * wrote, which is fine once the catalogue turns out not to be empty.
 */
async function seedOnFirstStart(db: Kysely<CatalogDatabase>, logger: Logger): Promise<void> {
  try {
    if (await seedDemoCatalog(db, new Date())) logger.info("demo catalogue written");
  } catch (error) {
    if (await isCatalogEmpty(db)) throw error;
    logger.info("demo catalogue written by another instance");
  }
}

if (isEntryPoint(import.meta.url)) {
  runAsMain({ name: "catalog", loadConfig: () => loadCatalogConfig(), start: (config, logger) => startCatalog({ config, logger }) });
}
