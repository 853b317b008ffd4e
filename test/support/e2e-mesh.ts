// The whole mesh for the end-to-end tests in test/e2e: identity, catalog,
// basket and ordering started on loopback port 0 against real RabbitMQ,
// PostgreSQL (a fresh database per service) and the MongoDB-protocol server,
// on an exchange and queues named for this run only. Ordering can run as its
// own process so a test can kill it. A probe queue records every event on the
// exchange with its headers, and an optional duplicator publishes every event
// a second time (same message id), as a broker redelivering everything would.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Client, credentials, Metadata } from "@grpc/grpc-js";
import { type ChannelModel, type ConfirmChannel, connect } from "amqplib";
import type { Kysely } from "kysely";
import { BasketServiceClient } from "../../gen/mel/basket/v1/basket.js";
import { type CatalogItem, CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../../gen/mel/identity/v1/identity.js";
import { OrderingServiceClient } from "../../gen/mel/ordering/v1/ordering.js";
import type { Env } from "../../platform/config/index.js";
import { createEventBus, type EventBus, type EventHandlers, type EventMeta, type EventName, integrationEvents } from "../../platform/events/index.js";
import { callUnary, type UnaryMethodName, type UnaryRequest, type UnaryResponse } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { createDatabase } from "../../platform/sql/index.js";
import { loadBasketConfig } from "../../services/basket/config.js";
import { type RunningBasket, startBasket } from "../../services/basket/main.js";
import { loadCatalogConfig } from "../../services/catalog/config.js";
import type { CatalogDatabase } from "../../services/catalog/item.table.js";
import { type RunningCatalog, startCatalog } from "../../services/catalog/main.js";
import { loadIdentityConfig } from "../../services/identity/config.js";
import { type RunningIdentity, startIdentity } from "../../services/identity/main.js";
import { loadOrderingConfig } from "../../services/ordering/config.js";
import { type RunningOrdering, startOrdering } from "../../services/ordering/main.js";
import type { OrderingDatabase } from "../../services/ordering/order.table.js";
import type { PaymentGateway } from "../../services/ordering/payment/payment-gateway.js";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer, type TestMongoDatabase } from "./ferretdb.js";
import { acceptsConnections, freePort } from "./ports.js";
import { createTestPostgresDatabase, ensurePostgres, type TestPostgresDatabase } from "./postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "./rabbitmq.js";
import { waitUntil } from "./wait.js";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const adminEmail = "admin@e2e.lojasmel.test";
export const adminPassword = `admin-${randomBytes(8).toString("hex")}`;

/** One delivery seen on the probe queue. */
export interface RecordedEvent {
  type: EventName;
  eventId: string;
  correlationId: string | undefined;
  /** The order the event is about ("" for events about no order). */
  orderId: string;
  event: Record<string, unknown>;
}

export interface MeshOptions {
  label: string;
  /** More environment for ordering (grace period, step timings). */
  orderingEnv?: Env;
  /** Run ordering as a child process (node --import tsx services/ordering/main.ts) that the test may kill. */
  orderingAsProcess?: boolean;
  /** Publish every event on the exchange a second time with the same message id. */
  duplicateEveryEvent?: boolean;
  /** Ordering's payment provider when it runs in-process; the simulated gateway otherwise. */
  paymentGateway?: PaymentGateway;
  /** Connections per service to PostgreSQL (the 500-checkout test wants more). */
  databaseMaxConnections?: number;
  /** Receives every log line of the in-process services, at debug level (to check what reaches the logs). */
  logLines?: string[];
}

export interface CallOptions {
  token?: string;
  correlationId?: string;
  deadlineMs?: number;
}

export interface OrderingProcess {
  /** SIGKILL: no drain, no cleanup, as a crash. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and waits until it serves. */
  start(): Promise<void>;
  /** The log lines it wrote so far (for failure messages). */
  logTail(): string;
}

export interface Mesh {
  prefix: string;
  exchange: string;
  identity: IdentityServiceClient;
  catalog: CatalogServiceClient;
  basket: BasketServiceClient;
  ordering: OrderingServiceClient;
  /** Read-only looks into the stores for assertions the APIs do not offer (totals across buyers). */
  orderingDb: Kysely<OrderingDatabase>;
  /** Ordering's read model (MEL_ORDERING_MONGODB_URL), for comparing it with the write side. */
  orderingMongoUrl: string;
  /** Ordering's SQL database URL (MEL_ORDERING_DATABASE_URL), for the operator CLI. */
  orderingDatabaseUrl: string;
  catalogDb: Kysely<CatalogDatabase>;
  /** Every delivery the probe queue received so far. */
  events: RecordedEvent[];
  /** Present when ordering runs as a child process. */
  orderingProcess: OrderingProcess | undefined;
  adminToken(): Promise<string>;
  /** Calls a unary method with a deadline, the bearer token and the correlation id when given. */
  call<C extends Client, M extends UnaryMethodName<C>>(client: C, method: M, request: UnaryRequest<C, M>, options?: CallOptions): Promise<UnaryResponse<C, M>>;
  stop(): Promise<void>;
}

function testLogger(service: string, sink?: string[]): Logger {
  if (sink) return createLogger({ service, level: "debug", destination: { write: (line: string) => void sink.push(line) } });
  const level = (process.env.MEL_TEST_LOG_LEVEL ?? "silent") as Parameters<typeof createLogger>[0]["level"];
  return createLogger({ service, ...(level === undefined ? {} : { level }) });
}

/** Starts the mesh; stop() undoes everything, including the databases and the broker names. */
export async function startMesh(options: MeshOptions): Promise<Mesh> {
  await Promise.all([ensureRabbitMq(), ensurePostgres(), ensureMongoServer()]);
  const prefix = uniqueName(`e2e-${options.label}`);
  const exchange = `${prefix}.events`;
  const workDir = mkdtempSync(join(tmpdir(), `mel-e2e-${options.label}-`));
  // Run last to first: the MongoDB-protocol server (and its backing database) goes after everything that used it.
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(workDir, { recursive: true, force: true }), () => stopMongoServer()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };

  try {
    const databases: Record<"identity" | "catalog" | "ordering", TestPostgresDatabase> = {
      identity: await createTestPostgresDatabase("e2e_identity"),
      catalog: await createTestPostgresDatabase("e2e_catalog"),
      ordering: await createTestPostgresDatabase("e2e_ordering"),
    };
    const mongo: TestMongoDatabase = await createTestMongoDatabase("e2e_basket");
    const orderingMongo: TestMongoDatabase = await createTestMongoDatabase("e2e_ordering");
    cleanups.push(async () => {
      await Promise.all([...Object.values(databases).map((database) => database.drop()), mongo.drop(), orderingMongo.drop()]);
    });
    cleanups.push(async () => {
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    });

    const logLevel = process.env.MEL_TEST_LOG_LEVEL ?? "silent";
    const maxConnections = String(options.databaseMaxConnections ?? 10);
    const fastRetries = "50,250,1000";
    const common: Env = { MEL_LOG_LEVEL: logLevel, MEL_RABBITMQ_URL: rabbitMqUrl, MEL_EVENTS_EXCHANGE: exchange };

    const identity: RunningIdentity = await startIdentity({
      config: loadIdentityConfig({
        ...common,
        MEL_IDENTITY_HOST: "127.0.0.1",
        MEL_IDENTITY_PORT: "0",
        MEL_IDENTITY_DATABASE_URL: databases.identity.url,
        // The lowest scrypt cost identity accepts: hundreds of registrations stay cheap on 2 cores.
        MEL_IDENTITY_PASSWORD_HASH_COST: "10",
        MEL_IDENTITY_ADMIN_EMAIL: adminEmail,
        MEL_IDENTITY_ADMIN_PASSWORD: adminPassword,
        MEL_IDENTITY_DEV_KEY_FILE: join(workDir, "identity-kek"),
        MEL_IDENTITY_DRAIN_TIMEOUT: "500",
      }),
      logger: testLogger("identity", options.logLines),
    });
    cleanups.push(() => identity.stop());
    const trust: Env = { MEL_IDENTITY_ADDRESS: `127.0.0.1:${identity.port}` };

    const catalog: RunningCatalog = await startCatalog({
      config: loadCatalogConfig({
        ...common,
        ...trust,
        MEL_CATALOG_HOST: "127.0.0.1",
        MEL_CATALOG_PORT: "0",
        MEL_CATALOG_DATABASE_URL: databases.catalog.url,
        MEL_CATALOG_DATABASE_MAX_CONNECTIONS: maxConnections,
        MEL_CATALOG_QUEUE: `${prefix}.catalog`,
        MEL_CATALOG_EVENT_RETRY_DELAYS: fastRetries,
        MEL_CATALOG_OUTBOX_POLL_INTERVAL: "250",
        MEL_CATALOG_DRAIN_TIMEOUT: "500",
      }),
      logger: testLogger("catalog", options.logLines),
    });
    cleanups.push(() => catalog.stop());

    const basket: RunningBasket = await startBasket({
      config: loadBasketConfig({
        ...common,
        ...trust,
        MEL_BASKET_HOST: "127.0.0.1",
        MEL_BASKET_PORT: "0",
        MEL_BASKET_MONGODB_URL: mongo.url,
        MEL_CATALOG_ADDRESS: `127.0.0.1:${catalog.port}`,
        MEL_BASKET_CATALOG_DEADLINE: "5000",
        MEL_BASKET_PAYMENT_TOKEN_KEY: randomBytes(32).toString("base64"),
        MEL_BASKET_QUEUE: `${prefix}.basket`,
        MEL_BASKET_EVENT_RETRY_DELAYS: fastRetries,
        MEL_BASKET_OUTBOX_POLL_INTERVAL: "250",
        MEL_BASKET_DRAIN_TIMEOUT: "500",
      }),
      logger: testLogger("basket", options.logLines),
    });
    cleanups.push(() => basket.stop());

    const orderingEnv: Env = {
      ...common,
      ...trust,
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_DATABASE_URL: databases.ordering.url,
      MEL_ORDERING_DATABASE_MAX_CONNECTIONS: maxConnections,
      MEL_ORDERING_MONGODB_URL: orderingMongo.url,
      MEL_ORDERING_GRACE_PERIOD: "0",
      MEL_ORDERING_QUEUE: `${prefix}.ordering`,
      MEL_ORDERING_EVENT_RETRY_DELAYS: fastRetries,
      MEL_ORDERING_STEP_POLL_INTERVAL: "250",
      MEL_ORDERING_OUTBOX_POLL_INTERVAL: "250",
      MEL_ORDERING_DRAIN_TIMEOUT: "500",
      ...options.orderingEnv,
    };
    let orderingPort: number;
    let orderingProcess: OrderingProcess | undefined;
    if (options.orderingAsProcess) {
      orderingPort = await freePort();
      orderingProcess = orderingChildProcess({ ...orderingEnv, MEL_ORDERING_PORT: String(orderingPort) }, orderingPort, join(workDir, "ordering.log"));
      await orderingProcess.start();
      cleanups.push(() => orderingProcess!.kill());
    } else {
      const ordering: RunningOrdering = await startOrdering({
        config: loadOrderingConfig({ ...orderingEnv, MEL_ORDERING_PORT: "0" }),
        logger: testLogger("ordering", options.logLines),
        ...(options.paymentGateway ? { paymentGateway: options.paymentGateway } : {}),
      });
      cleanups.push(() => ordering.stop());
      orderingPort = ordering.port;
    }

    // Declared before any traffic, so the probe and the duplicator miss nothing.
    const events: RecordedEvent[] = [];
    const probeBus: EventBus = await createEventBus({ url: rabbitMqUrl, logger: testLogger("probe"), exchange, connectionName: "e2e-probe" });
    cleanups.push(() => probeBus.close());
    await probeBus.subscribe({ queue: `${prefix}.probe`, handlers: recordingHandlers(events), prefetch: 200 });
    if (options.duplicateEveryEvent) cleanups.push(await startDuplicator(exchange, `${prefix}.duplicator`));

    const address = (port: number) => `127.0.0.1:${port}`;
    const clients = {
      identity: new IdentityServiceClient(address(identity.port), credentials.createInsecure()),
      catalog: new CatalogServiceClient(address(catalog.port), credentials.createInsecure()),
      basket: new BasketServiceClient(address(basket.port), credentials.createInsecure()),
      ordering: new OrderingServiceClient(address(orderingPort), credentials.createInsecure()),
    };
    cleanups.push(async () => {
      for (const client of Object.values(clients)) client.close();
    });

    const orderingDb = createDatabase<OrderingDatabase>(databases.ordering.url, { variable: "MEL_ORDERING_DATABASE_URL", maxConnections: 2 });
    const catalogDb = createDatabase<CatalogDatabase>(databases.catalog.url, { variable: "MEL_CATALOG_DATABASE_URL", maxConnections: 2 });
    cleanups.push(
      () => orderingDb.destroy(),
      () => catalogDb.destroy(),
    );

    const call: Mesh["call"] = (client, method, request, callOptions = {}) => {
      const metadata = new Metadata();
      if (callOptions.token) metadata.set("authorization", `Bearer ${callOptions.token}`);
      if (callOptions.correlationId) metadata.set("x-correlation-id", callOptions.correlationId);
      return callUnary(client, method, request, { metadata, deadline: new Date(Date.now() + (callOptions.deadlineMs ?? 30_000)) });
    };
    let adminToken: string | undefined;

    return {
      prefix,
      exchange,
      ...clients,
      orderingDb,
      orderingMongoUrl: orderingMongo.url,
      orderingDatabaseUrl: databases.ordering.url,
      catalogDb,
      events,
      orderingProcess,
      async adminToken() {
        adminToken ??= (await call(clients.identity, "login", { email: adminEmail, password: adminPassword })).accessToken;
        return adminToken;
      },
      call,
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

function recordingHandlers(events: RecordedEvent[]): EventHandlers {
  const handlers: Record<string, (event: unknown, meta: EventMeta) => Promise<void>> = {};
  for (const { name: type } of integrationEvents()) {
    handlers[type] = async (event, meta) => {
      const body = event as Record<string, unknown>;
      events.push({
        type,
        eventId: meta.eventId,
        correlationId: meta.correlationId,
        orderId: typeof body.orderId === "string" ? body.orderId : "",
        event: body,
      });
    };
  }
  return handlers as EventHandlers;
}

/**
 * Republishes every message that reaches the exchange once more, unchanged
 * but for a marker header (so copies are not copied again): each consumer
 * then receives every event twice under the same message id.
 */
async function startDuplicator(exchange: string, queue: string): Promise<() => Promise<void>> {
  const connection: ChannelModel = await connect(rabbitMqUrl);
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  await channel.assertExchange(exchange, "topic", { durable: true });
  await channel.assertQueue(queue, { durable: false, exclusive: true });
  await channel.bindQueue(queue, exchange, "#");
  await channel.prefetch(100);
  await channel.consume(queue, (message) => {
    if (message === null) return;
    const headers = message.properties.headers ?? {};
    if (headers["x-e2e-copy"]) {
      channel.ack(message);
      return;
    }
    const { properties } = message;
    channel.publish(
      exchange,
      message.fields.routingKey,
      message.content,
      {
        messageId: properties.messageId,
        type: properties.type,
        contentType: properties.contentType,
        correlationId: properties.correlationId,
        timestamp: properties.timestamp,
        persistent: true,
        headers: { ...headers, "x-e2e-copy": 1 },
      },
      (error) => (error ? channel.nack(message, false, true) : channel.ack(message)),
    );
  });
  return async () => {
    await connection.close().catch(() => undefined);
  };
}

/** Ordering as its own process, started with `env`, serving on `port`, logging to `logFile`. */
function orderingChildProcess(env: Env, port: number, logFile: string): OrderingProcess {
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill("SIGKILL");
  process.on("exit", killOnExit);
  return {
    async start() {
      const log = createWriteStream(logFile, { flags: "a" });
      const spawned = spawn(process.execPath, ["--import", "tsx", "services/ordering/main.ts"], {
        cwd: repositoryRoot,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, MEL_LOG_LEVEL: env.MEL_LOG_LEVEL === "silent" ? "warn" : env.MEL_LOG_LEVEL },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = spawned;
      spawned.stdout?.pipe(log);
      spawned.stderr?.pipe(log);
      let exited = false;
      spawned.once("exit", () => {
        exited = true;
      });
      await waitUntil(
        `ordering to listen on port ${port}`,
        async () => {
          if (exited) throw new Error(`ordering exited during start-up:\n${readTail(logFile)}`);
          return acceptsConnections(port);
        },
        60_000,
        50,
      );
    },
    async kill() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const gone = new Promise<void>((done) => running.once("exit", () => done()));
      running.kill("SIGKILL");
      await gone;
    },
    logTail: () => readTail(logFile),
  };
}

function readTail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---- Steps of a buyer's journey, through the public APIs ----

export interface Buyer {
  id: string;
  email: string;
  token: string;
}

let buyerCounter = 0;

/** Registers a new buyer and logs in. */
export async function registerBuyer(mesh: Mesh, label = "buyer"): Promise<Buyer> {
  buyerCounter += 1;
  const email = `${label}-${buyerCounter}-${randomBytes(4).toString("hex")}@e2e.lojasmel.test`;
  const password = `senha-${randomBytes(6).toString("hex")}`;
  const registered = await mesh.call(mesh.identity, "register", { email, password, displayName: `Comprador ${buyerCounter}` });
  const login = await mesh.call(mesh.identity, "login", { email, password });
  return { id: registered.user?.id ?? "", email, token: login.accessToken };
}

/** An item made by the admin through CatalogService.CreateItem with `stock` units available. */
export async function createItem(mesh: Mesh, name: string, stock: number, priceMinor = 1990): Promise<CatalogItem> {
  const token = await mesh.adminToken();
  const [{ brands }, { types }] = await Promise.all([
    mesh.call(mesh.catalog, "listBrands", {}, { token }),
    mesh.call(mesh.catalog, "listTypes", {}, { token }),
  ]);
  const response = await mesh.call(
    mesh.catalog,
    "createItem",
    {
      item: {
        id: "",
        name,
        description: "item de teste de ponta a ponta",
        price: { currencyCode: "BRL", amountMinor: priceMinor },
        priceVersion: 0,
        brandId: brands[0]?.id ?? "",
        typeId: types[0]?.id ?? "",
        pictureUrl: "",
        availableStock: stock,
        reservedStock: 0,
        restockThreshold: 0,
        maxStock: Math.max(stock, 1000),
        brandName: "",
        typeName: "",
      },
    },
    { token },
  );
  if (!response.item) throw new Error(`CreateItem returned no item for ${name}`);
  return response.item;
}

export async function stockOf(mesh: Mesh, itemId: string): Promise<{ available: number; reserved: number }> {
  const { item } = await mesh.call(mesh.catalog, "getItem", { id: itemId });
  return { available: item?.availableStock ?? -1, reserved: item?.reservedStock ?? -1 };
}

export const approvedCard = {
  number: "4111 1111 1111 1111",
  holderName: "Maria Silva",
  expiryMonth: 12,
  expiryYear: new Date().getUTCFullYear() + 3,
  securityCode: "123",
};
/** The simulated gateway's documented declined test card (see services/ordering/payment/simulated-payment-gateway.ts). */
export const declinedCard = { ...approvedCard, number: "4000 0000 0000 0002", holderName: "Cartao Recusado" };
export const deliveryAddress = { street: "Rua das Flores, 10", city: "São Paulo", state: "SP", country: "BR", zipCode: "01000-000" };

/** Adds `units` of each item to the buyer's basket and checks out; resolves with the order id. */
export async function checkout(
  mesh: Mesh,
  buyer: Buyer,
  lines: ReadonlyArray<{ itemId: string; units: number }>,
  options: { card?: typeof approvedCard; requestId?: string; correlationId?: string } = {},
): Promise<{ orderId: string; requestId: string; correlationId: string }> {
  const correlationId = options.correlationId ?? `e2e-${randomBytes(8).toString("hex")}`;
  for (const line of lines) await mesh.call(mesh.basket, "addItem", { productId: line.itemId, quantity: line.units }, { token: buyer.token, correlationId });
  const requestId = options.requestId ?? randomUUID();
  const response = await mesh.call(
    mesh.basket,
    "checkout",
    { requestId, address: deliveryAddress, card: options.card ?? approvedCard },
    { token: buyer.token, correlationId },
  );
  return { orderId: response.orderId, requestId, correlationId };
}

/** Waits until order `orderId` (as its buyer sees it) has `status`; returns it. */
export async function waitForOrderStatus(mesh: Mesh, buyer: Buyer, orderId: string, status: number, timeoutMs = 30_000) {
  let order: Awaited<ReturnType<typeof getOrder>> | undefined;
  try {
    await waitUntil(
      `order ${orderId} to reach status ${status}`,
      async () => {
        order = await getOrder(mesh, buyer, orderId).catch(() => undefined);
        return order?.status === status;
      },
      timeoutMs,
      50,
    );
  } catch (error) {
    const history = order?.statusHistory.map((change) => `${change.status}${change.reason ? ` (${change.reason})` : ""}`).join(" → ");
    throw new Error(`${error instanceof Error ? error.message : String(error)}; its history: ${history ?? "no order"}`);
  }
  return order!;
}

export async function getOrder(mesh: Mesh, buyer: Buyer, orderId: string) {
  const { order } = await mesh.call(mesh.ordering, "getOrder", { id: orderId }, { token: buyer.token });
  if (!order) throw new Error(`GetOrder ${orderId} returned no order`);
  return order;
}

/** Events of one order seen so far, each event id once. */
export function eventsOfOrder(mesh: Mesh, orderId: string): RecordedEvent[] {
  const seen = new Set<string>();
  return mesh.events.filter((event) => {
    if (event.orderId !== orderId) return false;
    if (seen.has(event.eventId)) return false;
    seen.add(event.eventId);
    return true;
  });
}

export async function waitForEvent(mesh: Mesh, orderId: string, type: EventName, timeoutMs = 30_000): Promise<RecordedEvent> {
  await waitUntil(`${type} for order ${orderId}`, () => eventsOfOrder(mesh, orderId).some((event) => event.type === type), timeoutMs, 20);
  return eventsOfOrder(mesh, orderId).find((event) => event.type === type)!;
}

/** Runs `work` over `items` with at most `limit` at once; results in input order. */
export async function mapWithLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
