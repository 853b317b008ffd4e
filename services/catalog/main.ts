// Catalog's wiring, top to bottom: config → logger → database (migrated,
// seeded) → event bus, outbox relay → gRPC server and event consumers.
// startCatalog runs it in-process (tests, the mesh launcher on port 0); run
// directly, this file reads the environment and drains on SIGTERM.
import type { Kysely } from "kysely";
import { CatalogServiceService } from "../../gen/mel/catalog/v1/catalog.js";
import { createServiceAuthenticate } from "../../platform/auth/index.js";
import { createEventBus, createOutboxRelay, type EventBus, type OutboxRelay, type Subscription } from "../../platform/events/index.js";
import { createGrpcServer, type Authenticate, type GrpcServer } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { isEntryPoint, runAsMain } from "../../platform/process/index.js";
import { createDatabase, migrateToLatest } from "../../platform/sql/index.js";
import { createCatalogService } from "./catalog.grpc.js";
import { loadCatalogConfig, type CatalogConfig } from "./config.js";
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
  const cleanups: Array<() => Promise<void>> = [() => db.destroy()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => logger.error({ err: error }, "catalog shutdown step failed"));
  };

  try {
    await migrateToLatest(db, catalogMigrations, { tablePrefix: "catalog", logger });
    if (config.seedDemoData) await seedOnFirstStart(db, logger);

    const bus = await createEventBus({ url: config.rabbitMqUrl, logger, exchange: config.exchange, connectionName: "catalog" });
    cleanups.push(() => bus.close());
    const relay = createOutboxRelay({ db, bus, logger, pollIntervalMs: config.outboxPollMs });
    relay.start();
    cleanups.push(() => relay.stop());

    const authenticate = options.authenticate ?? trustIdentity(config, logger, cleanups);
    const server = createGrpcServer({ serviceName: "catalog", logger });
    server.addService(CatalogServiceService, createCatalogService({ db, authenticate, relay, logger }));

    const handlerDeps = { db, relay, logger };
    const subscription: Subscription = await bus.subscribe({
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
    cleanups.push(() => subscription.close());

    const port = await server.listen(config.host, config.port);
    let stopping: Promise<void> | undefined;
    return {
      port,
      db,
      bus,
      relay,
      server,
      stop: () =>
        (stopping ??= (async () => {
          await server.drain(config.drainMs);
          await cleanUp();
        })()),
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/** Verifies tokens against identity's JWKS, fetched over gRPC and cached; the channel closes on stop. */
function trustIdentity(config: CatalogConfig, logger: Logger, cleanups: Array<() => Promise<void>>): Authenticate {
  const trusted = createServiceAuthenticate(config.trust, logger);
  cleanups.push(async () => trusted.close());
  return trusted;
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
  runAsMain({ name: "catalog", loadConfig: () => loadCatalogConfig(), start: (config) => startCatalog({ config }) });
}
