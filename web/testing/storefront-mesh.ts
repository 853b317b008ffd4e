// The whole mesh as `npm start` runs it (scripts/start.ts: one process per
// service and the gateway), from source, on free loopback ports with fresh
// SQLite files, this run's own exchange and queues, a fresh database on the
// MongoDB-protocol server, grace period 0 and a demo admin; plus the
// storefront built by vite into a temporary folder for the gateway to serve.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer } from "../../test/support/ferretdb.js";
import { freePort } from "../../test/support/ports.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const adminEmail = "admin@storefront.lojasmel.test";
export const adminPassword = `admin-${randomBytes(8).toString("hex")}`;

export interface StorefrontMesh {
  /** http://localhost:<port>: "localhost" so Chromium treats the page as a secure context and keeps Secure cookies. */
  url: string;
  /** The launcher's and the services' output so far (for failure messages). */
  logTail(): string;
  stop(): Promise<void>;
}

export interface StorefrontMeshOptions {
  /** Access-token lifetime (the silent-refresh test wants a short one). */
  accessTokenTtl?: string;
  /** More environment for every part (OTEL_* for the telemetry tests). */
  env?: Record<string, string>;
  /** Build and serve the storefront (default true); false serves the API only, and starts faster. */
  storefront?: boolean;
}

export async function buildStorefront(outDir: string): Promise<void> {
  await build({ configFile: join(repositoryRoot, "web/vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } });
}

export async function startStorefrontMesh(options: StorefrontMeshOptions = {}): Promise<StorefrontMesh> {
  await Promise.all([ensureRabbitMq(), ensureMongoServer()]);
  const workDir = mkdtempSync(join(tmpdir(), "mel-storefront-"));
  const webRoot = join(workDir, "web");
  const prefix = uniqueName("storefront");
  const mongo = await createTestMongoDatabase("storefront_basket");
  const orderingMongo = await createTestMongoDatabase("storefront_ordering");
  const [identity, catalog, basket, ordering, gateway] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  if (options.storefront ?? true) await buildStorefront(webRoot);

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    MEL_LOG_LEVEL: process.env.MEL_TEST_LOG_LEVEL ?? "warn",
    MEL_RABBITMQ_URL: rabbitMqUrl,
    MEL_EVENTS_EXCHANGE: `${prefix}.events`,
    MEL_IDENTITY_ADDRESS: `127.0.0.1:${identity}`,
    MEL_CATALOG_ADDRESS: `127.0.0.1:${catalog}`,
    MEL_BASKET_ADDRESS: `127.0.0.1:${basket}`,
    MEL_ORDERING_ADDRESS: `127.0.0.1:${ordering}`,
    // Tokens expire when they say: the silent refresh must beat the real expiry.
    MEL_TOKEN_CLOCK_SKEW: "0",
    MEL_IDENTITY_HOST: "127.0.0.1",
    MEL_IDENTITY_PORT: String(identity),
    MEL_IDENTITY_DATABASE_URL: `sqlite:${join(workDir, "identity.db")}`,
    MEL_IDENTITY_DEV_KEY_FILE: join(workDir, "identity-kek"),
    MEL_IDENTITY_PASSWORD_HASH_COST: "10",
    MEL_IDENTITY_ADMIN_EMAIL: adminEmail,
    MEL_IDENTITY_ADMIN_PASSWORD: adminPassword,
    MEL_IDENTITY_ACCESS_TOKEN_TTL: options.accessTokenTtl ?? "15m",
    MEL_CATALOG_HOST: "127.0.0.1",
    MEL_CATALOG_PORT: String(catalog),
    MEL_CATALOG_DATABASE_URL: `sqlite:${join(workDir, "catalog.db")}`,
    MEL_CATALOG_QUEUE: `${prefix}.catalog`,
    MEL_CATALOG_OUTBOX_POLL_INTERVAL: "250",
    MEL_BASKET_HOST: "127.0.0.1",
    MEL_BASKET_PORT: String(basket),
    MEL_BASKET_MONGODB_URL: mongo.url,
    MEL_BASKET_QUEUE: `${prefix}.basket`,
    MEL_BASKET_OUTBOX_POLL_INTERVAL: "250",
    MEL_ORDERING_HOST: "127.0.0.1",
    MEL_ORDERING_PORT: String(ordering),
    MEL_ORDERING_DATABASE_URL: `sqlite:${join(workDir, "ordering.db")}`,
    MEL_ORDERING_MONGODB_URL: orderingMongo.url,
    MEL_ORDERING_QUEUE: `${prefix}.ordering`,
    MEL_ORDERING_GRACE_PERIOD: "0",
    MEL_ORDERING_STEP_POLL_INTERVAL: "100",
    MEL_ORDERING_OUTBOX_POLL_INTERVAL: "250",
    MEL_ORDERING_WATCH_POLL_INTERVAL: "500",
    MEL_GATEWAY_HOST: "127.0.0.1",
    MEL_GATEWAY_PORT: String(gateway),
    MEL_GATEWAY_WEB_ROOT: webRoot,
    // Every test signs in several times from 127.0.0.1.
    MEL_GATEWAY_AUTH_RATE_LIMIT_MAX: "10000",
    // Not the shared default ports of a Jaeger that `npm start` would start.
    MEL_START_JAEGER: "false",
    // Metrics off unless a test asks (the default ports would collide between concurrent runs).
    MEL_GATEWAY_METRICS_PORT: "0",
    MEL_IDENTITY_METRICS_PORT: "0",
    MEL_CATALOG_METRICS_PORT: "0",
    MEL_BASKET_METRICS_PORT: "0",
    MEL_ORDERING_METRICS_PORT: "0",
    ...options.env,
  };
  const output: string[] = [];
  const launcher: ChildProcess = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    cwd: repositoryRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const record = (chunk: Buffer) => {
    output.push(chunk.toString("utf8"));
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  launcher.stdout?.on("data", record);
  launcher.stderr?.on("data", record);
  let exited = false;
  const exit = new Promise<void>((done) =>
    launcher.once("exit", () => {
      exited = true;
      done();
    }),
  );
  const logTail = () => output.join("").split("\n").slice(-60).join("\n");
  const url = `http://localhost:${gateway}`;

  const stop = async () => {
    if (!exited) {
      launcher.kill("SIGTERM");
      await exit;
    }
    await mongo.drop().catch(() => undefined);
    await orderingMongo.drop().catch(() => undefined);
    await stopMongoServer();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      "the mesh to be ready (gateway /readyz)",
      async () => {
        if (exited) throw new Error(`the launcher exited during start-up:\n${logTail()}`);
        const response = await fetch(`${url}/readyz`).catch(() => undefined);
        return response?.status === 200;
      },
      90_000,
      200,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, logTail, stop };
}
