// The mesh scaled out on one machine, for the scale-out test: two instances
// of every service and of the gateway, each its own OS process
// (node --import tsx <part>/main.ts) so the test can SIGKILL one. Both
// instances of a service share its PostgreSQL database (identity, catalog,
// ordering) or its MongoDB-protocol database (basket) and consume from the
// same queue; every client is given both instances of each upstream as one
// comma-separated address, which the platform's gRPC client spreads by round
// robin. Exchange and queues are named for this run only.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kysely } from "kysely";
import mongoose, { type Connection } from "mongoose";
import type { Env } from "../../platform/config/index.js";
import { createLogger } from "../../platform/log/index.js";
import { connectMongo, hasAtomicConditionalUpdates } from "../../platform/mongo/index.js";
import { createDatabase } from "../../platform/sql/index.js";
import type { CatalogDatabase } from "../../services/catalog/item.table.js";
import type { IdentityDatabase } from "../../services/identity/identity.table.js";
import type { OrderingDatabase } from "../../services/ordering/order.table.js";
import { type OrderReadModel, orderReadModelOn } from "../../services/ordering/order-view.model.js";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer } from "../support/ferretdb.js";
import { acceptsConnections, freePort } from "../support/ports.js";
import { createTestPostgresDatabase, ensurePostgres } from "../support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../support/rabbitmq.js";
import { waitUntil } from "../support/wait.js";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const scaledParts = ["identity", "catalog", "basket", "ordering", "gateway"] as const;
export type ScaledPart = (typeof scaledParts)[number];

/** One instance of a part, as its own process. */
export interface PartInstance {
  part: ScaledPart;
  port: number;
  /** Starts the process and waits until it listens (and, for a gateway, answers /healthz). */
  start(): Promise<void>;
  /** SIGKILL: no drain, no clean-up, as a crash. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Whether its process runs now. */
  running(): boolean;
  logTail(): string;
  /** Every line of its log, across restarts, that contains `text`. */
  logLines(text: string): string[];
}

export interface ScaledMesh {
  prefix: string;
  /** The service queues, shared by both instances of each service. */
  queues: Record<"catalog" | "basket" | "ordering", string>;
  /** http://127.0.0.1:<port> of each gateway. */
  gatewayUrls: string[];
  instances: Record<ScaledPart, [PartInstance, PartInstance]>;
  adminEmail: string;
  adminPassword: string;
  /** Read-only looks into the stores for the test's assertions. */
  identityDb: Kysely<IdentityDatabase>;
  catalogDb: Kysely<CatalogDatabase>;
  orderingDb: Kysely<OrderingDatabase>;
  /** Ordering's read model, which both ordering instances project into. */
  orderingReadModel: OrderReadModel;
  basketStore: Connection;
  /** The last lines of every instance's log, for failure messages. */
  tail(): string;
  stop(): Promise<void>;
}

const entryPoints: Record<ScaledPart, string> = {
  identity: "services/identity/main.ts",
  catalog: "services/catalog/main.ts",
  basket: "services/basket/main.ts",
  ordering: "services/ordering/main.ts",
  gateway: "gateway/main.ts",
};

/** Starts two instances of every part (both of a part at once) and waits until both gateways report every upstream ready. */
export async function startScaledMesh(label: string, extraEnv: Env = {}): Promise<ScaledMesh> {
  await Promise.all([ensureRabbitMq(), ensurePostgres(), ensureMongoServer()]);
  const prefix = uniqueName(`e2e-${label}`);
  const workDir = mkdtempSync(join(tmpdir(), `mel-${label}-`));
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(workDir, { recursive: true, force: true }), () => stopMongoServer()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const [identityDatabase, catalogDatabase, orderingDatabase] = await Promise.all([
      createTestPostgresDatabase("scale_identity"),
      createTestPostgresDatabase("scale_catalog"),
      createTestPostgresDatabase("scale_ordering"),
    ]);
    const mongo = await createTestMongoDatabase("scale_basket");
    const orderingMongo = await createTestMongoDatabase("scale_ordering_read");
    cleanups.push(async () => {
      await Promise.all([identityDatabase.drop(), catalogDatabase.drop(), orderingDatabase.drop(), mongo.drop(), orderingMongo.drop()]);
    });
    cleanups.push(async () => {
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    });

    const ports = Object.fromEntries(await Promise.all(scaledParts.map(async (part) => [part, [await freePort(), await freePort()]]))) as Record<
      ScaledPart,
      [number, number]
    >;
    const both = (part: ScaledPart) => ports[part].map((port) => `127.0.0.1:${port}`).join(",");
    const queues = { catalog: `${prefix}.catalog`, basket: `${prefix}.basket`, ordering: `${prefix}.ordering` };
    const adminEmail = "admin@scale.lojasmel.test";
    const adminPassword = `admin-${randomBytes(8).toString("hex")}`;
    const retries = "50,250,1000";
    const drain = "500";
    const env: Env = {
      MEL_LOG_LEVEL: "warn",
      MEL_RABBITMQ_URL: rabbitMqUrl,
      MEL_EVENTS_EXCHANGE: `${prefix}.events`,
      MEL_IDENTITY_ADDRESS: both("identity"),
      MEL_CATALOG_ADDRESS: both("catalog"),
      MEL_BASKET_ADDRESS: both("basket"),
      MEL_ORDERING_ADDRESS: both("ordering"),
      MEL_IDENTITY_HOST: "127.0.0.1",
      // Small pools: six instances, FerretDB and the rest of the suite share one PostgreSQL server.
      MEL_IDENTITY_DATABASE_URL: identityDatabase.url,
      MEL_IDENTITY_DATABASE_MAX_CONNECTIONS: "4",
      // One key-encryption key for both instances, as production passes it.
      MEL_IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      MEL_IDENTITY_PASSWORD_HASH_COST: "10",
      MEL_IDENTITY_ADMIN_EMAIL: adminEmail,
      MEL_IDENTITY_ADMIN_PASSWORD: adminPassword,
      MEL_IDENTITY_DRAIN_TIMEOUT: drain,
      MEL_CATALOG_HOST: "127.0.0.1",
      MEL_CATALOG_DATABASE_URL: catalogDatabase.url,
      MEL_CATALOG_DATABASE_MAX_CONNECTIONS: "4",
      MEL_CATALOG_QUEUE: queues.catalog,
      MEL_CATALOG_OUTBOX_POLL_INTERVAL: "250",
      MEL_CATALOG_DRAIN_TIMEOUT: drain,
      MEL_BASKET_HOST: "127.0.0.1",
      MEL_BASKET_MONGODB_URL: mongo.url,
      MEL_BASKET_CATALOG_DEADLINE: "5000",
      MEL_BASKET_ORDERING_DEADLINE: "5000",
      MEL_BASKET_PAYMENT_TOKEN_KEY: randomBytes(32).toString("base64"),
      MEL_BASKET_QUEUE: queues.basket,
      MEL_BASKET_OUTBOX_POLL_INTERVAL: "250",
      // A killed basket's claim on an outbox keeps those events back this long.
      MEL_BASKET_OUTBOX_CLAIM_TTL: "2000",
      MEL_BASKET_DRAIN_TIMEOUT: drain,
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_DATABASE_URL: orderingDatabase.url,
      MEL_ORDERING_DATABASE_MAX_CONNECTIONS: "4",
      MEL_ORDERING_MONGODB_URL: orderingMongo.url,
      MEL_ORDERING_QUEUE: queues.ordering,
      MEL_ORDERING_GRACE_PERIOD: "0",
      MEL_ORDERING_STEP_POLL_INTERVAL: "200",
      // A step held by a killed instance is taken over this soon.
      MEL_ORDERING_STEP_LEASE: "2000",
      MEL_ORDERING_OUTBOX_POLL_INTERVAL: "250",
      MEL_ORDERING_DRAIN_TIMEOUT: drain,
      MEL_GATEWAY_HOST: "127.0.0.1",
      MEL_GATEWAY_AUTH_RATE_LIMIT_MAX: "100000",
      MEL_CATALOG_EVENT_RETRY_DELAYS: retries,
      MEL_BASKET_EVENT_RETRY_DELAYS: retries,
      MEL_ORDERING_EVENT_RETRY_DELAYS: retries,
      ...extraEnv,
    };

    const instances = {} as Record<ScaledPart, [PartInstance, PartInstance]>;
    for (const part of scaledParts) {
      const [first, second] = ports[part].map((port, index) =>
        partInstance(part, { ...env, [`MEL_${part.toUpperCase()}_PORT`]: String(port) }, port, join(workDir, `${part}-${index}.log`)),
      ) as [PartInstance, PartInstance];
      instances[part] = [first, second];
      cleanups.push(async () => {
        await Promise.all([first.kill(), second.kill()]);
      });
      // Both at once, as a deployment scaled to two starts them.
      await Promise.all([first.start(), second.start()]);
    }
    const gatewayUrls = ports.gateway.map((port) => `http://127.0.0.1:${port}`);
    for (const url of gatewayUrls) await waitUntilGatewayReady(url);

    const identityDb = createDatabase<IdentityDatabase>(identityDatabase.url, { variable: "MEL_IDENTITY_DATABASE_URL", maxConnections: 1 });
    const catalogDb = createDatabase<CatalogDatabase>(catalogDatabase.url, { variable: "MEL_CATALOG_DATABASE_URL", maxConnections: 1 });
    const orderingDb = createDatabase<OrderingDatabase>(orderingDatabase.url, { variable: "MEL_ORDERING_DATABASE_URL", maxConnections: 1 });
    const basketStore = await mongoose.createConnection(mongo.url, { serverSelectionTimeoutMS: 5000, autoIndex: false }).asPromise();
    const readModelStore = await connectMongo(orderingMongo.url, {
      timeoutMs: 10_000,
      logger: createLogger({ service: "scale-out", level: "silent" }),
      purpose: "the order read model",
    });
    const orderingReadModel = orderReadModelOn(readModelStore.connection, { claimWrites: !(await hasAtomicConditionalUpdates(readModelStore.connection)) });
    cleanups.push(() => readModelStore.close());
    cleanups.push(
      () => identityDb.destroy(),
      () => catalogDb.destroy(),
      () => orderingDb.destroy(),
      () => basketStore.close(),
    );
    const all = scaledParts.flatMap((part) => instances[part]);
    return {
      prefix,
      queues,
      gatewayUrls,
      instances,
      adminEmail,
      adminPassword,
      identityDb,
      catalogDb,
      orderingDb,
      orderingReadModel,
      basketStore,
      tail: () => all.map((instance) => `--- ${instance.part}:${instance.port}\n${instance.logTail()}`).join("\n"),
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/** Waits until the gateway at `url` answers /readyz with 200: each of its upstreams reports SERVING. */
export async function waitUntilGatewayReady(url: string, timeoutMs = 120_000): Promise<void> {
  await waitUntil(
    `the gateway at ${url} to report every upstream ready`,
    async () => {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      await response?.arrayBuffer().catch(() => undefined);
      return response?.status === 200;
    },
    timeoutMs,
    200,
  );
}

/** Every instance process still running: none outlives the test process, whatever ends it. */
const runningChildren = new Set<ChildProcess>();
let killsOnExit = false;

function partInstance(part: ScaledPart, env: Env, port: number, logFile: string): PartInstance {
  let child: ChildProcess | undefined;
  if (!killsOnExit) {
    killsOnExit = true;
    process.once("exit", () => {
      for (const running of runningChildren) running.kill("SIGKILL");
    });
  }
  const serves = async () => {
    if (!(await acceptsConnections(port))) return false;
    if (part !== "gateway") return true;
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    await response?.arrayBuffer().catch(() => undefined);
    return response?.status === 200;
  };
  return {
    part,
    port,
    async start() {
      const log = createWriteStream(logFile, { flags: "a" });
      const spawned = spawn(process.execPath, ["--import", "tsx", entryPoints[part]], {
        cwd: repositoryRoot,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = spawned;
      runningChildren.add(spawned);
      spawned.stdout?.pipe(log);
      spawned.stderr?.pipe(log);
      let exited = false;
      spawned.once("exit", () => {
        exited = true;
        runningChildren.delete(spawned);
      });
      await waitUntil(
        `${part} to serve on port ${port}`,
        async () => {
          if (exited) throw new Error(`${part} on port ${port} exited during start-up:\n${readTail(logFile)}`);
          return serves();
        },
        120_000,
        100,
      );
    },
    async kill() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const gone = new Promise<void>((done) => running.once("exit", () => done()));
      running.kill("SIGKILL");
      await gone;
    },
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    logTail: () => readTail(logFile),
    logLines: (text) => readLines(logFile).filter((logLine) => logLine.includes(text)),
  };
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n");
  } catch {
    return [];
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}
