// Basket's wiring, top to bottom: config → logger → MongoDB (indexes) →
// catalog and ordering clients → event bus, outbox relay → gRPC server and event consumers.
// startBasket runs it in-process (tests, the mesh launcher on port 0); run
// directly, this file reads the environment and drains on SIGTERM.
import { randomBytes } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { BasketServiceService } from "../../gen/mel/basket/v1/basket.js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { OrderingServiceClient } from "../../gen/mel/ordering/v1/ordering.js";
import { startServiceAuthenticate, whenSessionsLoaded } from "../../platform/auth/index.js";
import { createEventBus, type EventBus } from "../../platform/events/index.js";
import {
  type Authenticate,
  type BreakerOptions,
  createClient,
  createGrpcServer,
  createGrpcServerTransport,
  type GrpcServer,
} from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { createShutdownSteps, isEntryPoint, runAsMain, stopAfterDrain } from "../../platform/process/index.js";
import { createBasketService } from "./basket.grpc.js";
import { type BasketDb, basketModels, createBasketIndexes, hasAtomicConditionalUpdates } from "./basket.model.js";
import { type BasketOutboxRelay, createBasketOutboxRelay } from "./basket-outbox-relay.js";
import { defaultWriteRetry } from "./basket-update.js";
import { type BasketConfig, loadBasketConfig } from "./config.js";
import { createCheckoutRejectedHandler } from "./events/checkout-rejected.handler.js";
import { createOrderStartedHandler } from "./events/order-started.handler.js";
import { createOrderStatusChangedToCancelledHandler } from "./events/order-status-changed-to-cancelled.handler.js";
import { createProductPriceChangedHandler } from "./events/product-price-changed.handler.js";

export interface StartBasketOptions {
  config: BasketConfig;
  logger?: Logger;
  /** Replaces verification against identity's JWKS (tests that sign their own tokens). */
  authenticate?: Authenticate;
  /** The circuit breaker on catalog calls; platform defaults otherwise. */
  catalogBreaker?: Partial<BreakerOptions>;
  /** The relay's back-off after a failed publish (tests shorten it). */
  relayRetry?: { initialDelayMs: number; maxDelayMs: number };
  now?: () => Date;
}

export interface RunningBasket {
  /** The bound gRPC port (the real one when config.port was 0). */
  port: number;
  connection: Connection;
  db: BasketDb;
  bus: EventBus;
  relay: BasketOutboxRelay;
  server: GrpcServer;
  /** Drains gRPC, stops consuming and relaying, closes the broker, the catalog channel and MongoDB. */
  stop(): Promise<void>;
}

export async function startBasket({ config, ...options }: StartBasketOptions): Promise<RunningBasket> {
  const logger = options.logger ?? createLogger({ service: "basket", level: config.logLevel });
  const now = options.now ?? (() => new Date());
  const paymentTokenKey = paymentTokenKeyFrom(config, logger);
  const writeRetry = { ...defaultWriteRetry, maxAttempts: config.writeAttempts };

  // autoIndex off: indexes are made once below, not behind the first query's back.
  const connection = await mongoose
    .createConnection(config.mongoUrl, {
      serverSelectionTimeoutMS: config.mongoTimeoutMs,
      // The driver's 30 s default would keep a basket answering UNAVAILABLE that long after MongoDB is back.
      connectTimeoutMS: config.mongoTimeoutMs,
      autoIndex: false,
    })
    .asPromise();
  // Calls answer UNAVAILABLE without the driver's reason while MongoDB is away; these lines tell operators when it went and came back.
  const lost = () => logger.warn("lost the connection to MongoDB: basket calls answer UNAVAILABLE until it is back");
  const back = () => logger.info("connected to MongoDB again");
  connection.on("disconnected", lost).on("reconnected", back);
  const shutdown = createShutdownSteps("basket", logger);
  shutdown.add(async () => {
    // Our own close is not an outage.
    connection.off("disconnected", lost).off("reconnected", back);
    await connection.close();
  });

  try {
    const claimWrites = !(await hasAtomicConditionalUpdates(connection));
    if (claimWrites)
      logger.info("the MongoDB-protocol server does not apply conditional updates atomically (FerretDB v1): basket writes claim their revision first");
    const db = basketModels(connection, {
      claimWrites,
      onAbandonedClaim: (claim) =>
        logger.warn(claim, "took over a basket write claim its holder left behind (it died mid-write, or its write outlived the lease)"),
    });
    await createBasketIndexes(db);

    const transport = createGrpcServerTransport(config.grpc);
    const { client: catalog } = createClient(CatalogServiceClient, {
      upstream: "catalog",
      target: config.catalogAddress,
      defaultDeadlineMs: config.catalogDeadlineMs,
      ...(options.catalogBreaker ? { breaker: options.catalogBreaker } : {}),
      ...transport.clientOptions("catalog"),
      logger,
    });
    shutdown.closing(catalog);

    const { client: ordering } = createClient(OrderingServiceClient, {
      upstream: "ordering",
      target: config.orderingAddress,
      defaultDeadlineMs: config.orderingDeadlineMs,
      logger,
    });
    shutdown.closing(ordering);

    const bus = shutdown.closing(await createEventBus({ url: config.rabbitMqUrl, logger, exchange: config.exchange, connectionName: "basket" }));
    const relay = createBasketOutboxRelay({
      db,
      bus,
      logger,
      writeRetry,
      pollIntervalMs: config.outboxPollMs,
      sentRetentionMs: config.outboxRetentionMs,
      claimTtlMs: config.outboxClaimMs,
      ...(options.relayRetry ? { retryInitialDelayMs: options.relayRetry.initialDelayMs, retryMaxDelayMs: options.relayRetry.maxDelayMs } : {}),
      now,
    });
    relay.start();
    shutdown.add(() => relay.stop());

    // Loaded with the sessions signed out so far, and told of later sign-outs, before this instance serves.
    const authenticate =
      options.authenticate ??
      shutdown.closing(await startServiceAuthenticate(config.trust, { bus, queue: config.queue, logger, ...transport.clientOptions("identity") }));
    const server = createGrpcServer({ serviceName: "basket", logger, ...transport.serverOptions });
    // Until it can tell a signed-out session from a live one it refuses every token, so it takes no traffic before.
    server.readyWhen(whenSessionsLoaded(authenticate), "the signed-out sessions are loaded from identity");
    server.addService(
      BasketServiceService,
      createBasketService({ db, catalog, ordering, authenticate, logger, relay, limits: config.limits, writeRetry, paymentTokenKey, now }),
    );

    const handlerDeps = { db, logger, writeRetry, now };
    const subscription = await bus.subscribe({
      queue: config.queue,
      handlers: {
        ProductPriceChanged: createProductPriceChangedHandler(handlerDeps),
        OrderStarted: createOrderStartedHandler(handlerDeps),
        CheckoutRejected: createCheckoutRejectedHandler(handlerDeps),
        OrderStatusChangedToCancelled: createOrderStatusChangedToCancelledHandler({ ...handlerDeps, catalog, limits: config.limits }),
      },
      prefetch: config.eventPrefetch,
      retryDelaysMs: config.eventRetryDelaysMs,
      quorum: config.quorumQueues,
    });
    shutdown.add(() => subscription.close());

    const port = await server.listen(config.host, config.port);
    return { port, connection, db, bus, relay, server, stop: stopAfterDrain(server, config.drainMs, shutdown) };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

/** The configured key, or (outside production; config refuses it there) a random one with a warning. */
function paymentTokenKeyFrom(config: BasketConfig, logger: Logger): Uint8Array {
  if (config.paymentTokenKey !== undefined) return Buffer.from(config.paymentTokenKey, "utf8");
  logger.warn(
    "MEL_BASKET_PAYMENT_TOKEN_KEY is not set: using a random key, so payment tokens change with every restart; set it (openssl rand -base64 48) outside development",
  );
  return randomBytes(32);
}

if (isEntryPoint(import.meta.url)) {
  runAsMain({ name: "basket", loadConfig: () => loadBasketConfig(), start: (config, logger) => startBasket({ config, logger }) });
}
