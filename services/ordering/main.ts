// Ordering's wiring, top to bottom: config → logger → database (migrated) →
// order read model (MongoDB, indexes) → event bus, outbox relay → step
// scheduler (grace period, payment) → gRPC server and event consumers (the
// saga's and the read model's projection). startOrdering runs it in-process (tests, the
// mesh launcher on port 0); run directly (node --import tsx
// services/ordering/main.ts, or dist/services/ordering/main.js), this file
// reads the environment and drains on SIGTERM/SIGINT.
import type { Kysely } from "kysely";
import { OrderingServiceService } from "../../gen/mel/ordering/v1/ordering.js";
import { startServiceAuthenticate, whenSessionsLoaded } from "../../platform/auth/index.js";
import { createEventBus, createOutboxRelay, type EventBus } from "../../platform/events/index.js";
import { type Authenticate, createGrpcServer, createGrpcServerTransport, type GrpcServer } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { connectMongo, hasAtomicConditionalUpdates } from "../../platform/mongo/index.js";
import { createShutdownSteps, isEntryPoint, runAsMain, stopAfterDrain } from "../../platform/process/index.js";
import { createDatabase, migrateToLatest } from "../../platform/sql/index.js";
import { createAwaitValidationStep } from "./await-validation.step.js";
import { loadOrderingConfig, type OrderingConfig } from "./config.js";
import { createOrderStockConfirmedHandler } from "./events/order-stock-confirmed.handler.js";
import { createOrderStockRejectedHandler } from "./events/order-stock-rejected.handler.js";
import { createOrderViewChangedHandler } from "./events/order-view-changed.handler.js";
import { createUserCheckoutAcceptedHandler } from "./events/user-checkout-accepted.handler.js";
import { orderingMigrations } from "./migrations/index.js";
import type { OrderingDatabase } from "./order.table.js";
import type { OrderFlowDeps } from "./order-flow.js";
import { createOrderNotifier } from "./order-notifier.js";
import { createOrderStepRunner } from "./order-step-runner.js";
import { createOrderReadModelIndexes, type OrderReadModel, orderReadModelOn } from "./order-view.model.js";
import { createOrderingService } from "./ordering.grpc.js";
import { createAuthorizePaymentStep } from "./payment/authorize-payment.step.js";
import type { PaymentGateway } from "./payment/payment-gateway.js";
import { createSimulatedPaymentGateway } from "./payment/simulated-payment-gateway.js";

export interface StartOrderingOptions {
  config: OrderingConfig;
  logger?: Logger;
  /** Replaces verification against identity's JWKS (tests that sign their own tokens). */
  authenticate?: Authenticate;
  /** The payment provider; the simulated gateway by default. */
  paymentGateway?: PaymentGateway;
}

export interface RunningOrdering {
  /** The bound gRPC port (the real one when config.port was 0). */
  port: number;
  db: Kysely<OrderingDatabase>;
  readModel: OrderReadModel;
  bus: EventBus;
  server: GrpcServer;
  /** WatchOrder streams open right now. */
  watchers(): number;
  /** Drains gRPC, stops consuming, scheduling and relaying, closes the broker and the database. */
  stop(): Promise<void>;
}

export async function startOrdering({ config, ...options }: StartOrderingOptions): Promise<RunningOrdering> {
  const logger = options.logger ?? createLogger({ service: "ordering", level: config.logLevel });
  const timings = { gracePeriodMs: config.gracePeriodMs };
  const db = createDatabase<OrderingDatabase>(config.databaseUrl, {
    variable: "MEL_ORDERING_DATABASE_URL",
    maxConnections: config.databaseMaxConnections,
  });
  const shutdown = createShutdownSteps("ordering", logger);
  shutdown.add(() => db.destroy());

  try {
    await migrateToLatest(db, orderingMigrations, { tablePrefix: "ordering", logger });

    const mongo = await connectMongo(config.mongoUrl, { timeoutMs: config.mongoTimeoutMs, logger, purpose: "the order read model" });
    shutdown.add(() => mongo.close());
    const claimWrites = !(await hasAtomicConditionalUpdates(mongo.connection));
    if (claimWrites)
      logger.info("the MongoDB-protocol server does not apply conditional updates atomically (FerretDB v1): read-model writes claim their version first");
    const readModel = orderReadModelOn(mongo.connection, { claimWrites });
    await createOrderReadModelIndexes(readModel);

    const bus = shutdown.closing(await createEventBus({ url: config.rabbitMqUrl, logger, exchange: config.exchange, connectionName: "ordering" }));
    const relay = createOutboxRelay({ db, bus, logger, pollIntervalMs: config.outboxPollMs, retentionMs: config.outboxRetentionMs });
    relay.start();
    shutdown.add(() => relay.stop());

    // Every commit that changed an order wakes the relay (its events), the
    // step runner (a step it scheduled) and the order's watchers.
    const notifier = createOrderNotifier();
    let wakeSteps = () => {};
    const orderChanged = (orderId: string) => {
      relay.notify();
      wakeSteps();
      notifier.notify(orderId);
    };
    const flow: OrderFlowDeps = { db, logger, timings, orderChanged };

    const steps = createOrderStepRunner({
      db,
      logger,
      pollIntervalMs: config.stepPollMs,
      leaseMs: config.stepLeaseMs,
      handlers: {
        "await-validation": createAwaitValidationStep(flow),
        "authorize-payment": createAuthorizePaymentStep({
          ...flow,
          gateway: options.paymentGateway ?? createSimulatedPaymentGateway(),
          maxAttempts: config.paymentMaxAttempts,
        }),
      },
    });
    wakeSteps = () => steps.wake();
    steps.start();
    shutdown.add(() => steps.stop());

    const transport = createGrpcServerTransport(config.grpc);
    // Loaded with the sessions signed out so far, and told of later sign-outs, before this instance serves.
    const authenticate =
      options.authenticate ??
      shutdown.closing(await startServiceAuthenticate(config.trust, { bus, queue: config.queue, logger, ...transport.clientOptions("identity") }));
    const server = createGrpcServer({ serviceName: "ordering", logger, ...transport.serverOptions });
    // Until it can tell a signed-out session from a live one it refuses every token, so it takes no traffic before.
    server.readyWhen(whenSessionsLoaded(authenticate), "the signed-out sessions are loaded from identity");
    server.addService(
      OrderingServiceService,
      createOrderingService({ db, readModel, authenticate, logger, notifier, timings, orderChanged, watchPollIntervalMs: config.watchPollMs }),
    );

    const subscription = await bus.subscribe({
      queue: config.queue,
      handlers: {
        UserCheckoutAccepted: createUserCheckoutAcceptedHandler(flow),
        OrderStockConfirmed: createOrderStockConfirmedHandler(flow),
        OrderStockRejected: createOrderStockRejectedHandler(flow),
        // Ordering's own event: the read model's projection.
        OrderViewChanged: createOrderViewChangedHandler({ db, readModel, logger }),
      },
      prefetch: config.eventPrefetch,
      retryDelaysMs: config.eventRetryDelaysMs,
      quorum: config.quorumQueues,
    });
    shutdown.add(() => subscription.close());

    const port = await server.listen(config.host, config.port);
    return { port, db, readModel, bus, server, watchers: () => notifier.listenerCount(), stop: stopAfterDrain(server, config.drainMs, shutdown) };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

if (isEntryPoint(import.meta.url)) {
  runAsMain({ name: "ordering", loadConfig: () => loadOrderingConfig(), start: (config, logger) => startOrdering({ config, logger }) });
}
