// The mesh as `npm start` runs it, for end-to-end tests of the launcher: the
// project built into dist/ (as `npm start` does first), then
// `node dist/scripts/start.js` with every part on a free loopback port, SQLite
// files in a temp folder, the test's MongoDB-protocol server for the basket
// and an exchange and queues named for this run only. The launcher's own log
// lines say which pid each part runs as; the test talks HTTP/JSON to the
// gateway, as the storefront does.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Client, credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer } from "../support/ferretdb.js";
import { freePort } from "../support/ports.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../support/rabbitmq.js";
import { waitUntil } from "../support/wait.js";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const meshParts = ["identity", "catalog", "basket", "ordering", "gateway"] as const;
export type MeshPart = (typeof meshParts)[number];

/** A JSON log line of the launcher or of a part. */
export interface LogLine {
  service?: string;
  level?: string;
  msg?: string;
  part?: string;
  pid?: number;
  [field: string]: unknown;
}

export interface LaunchedMesh {
  /** http://127.0.0.1:<port> of the gateway. */
  gatewayUrl: string;
  /** The loopback port each part listens on. */
  ports: Record<MeshPart, number>;
  /** Every JSON line the launcher and its parts wrote so far. */
  lines: LogLine[];
  /** The launcher's lines. */
  launcherLines(): LogLine[];
  /** The pid each part runs as now, from the launcher's "<part> started" and "<part> restarted" lines. */
  pids(): Partial<Record<MeshPart, number>>;
  /** Sends `signal` to the launcher's process group, as a terminal's Ctrl-C does (SIGINT). */
  signalGroup(signal: NodeJS.Signals): void;
  signal(signal: NodeJS.Signals): void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of output, for failure messages. */
  tail(count?: number): string;
  /** Kills whatever still runs and removes the databases, files and broker names. */
  cleanUp(): Promise<void>;
}

/** Compiles the project into dist/ exactly as `npm start` does before it runs the launcher. */
export async function buildProject(): Promise<void> {
  await promisify(execFile)("npm", ["run", "build"], { cwd: repositoryRoot, timeout: 300_000 });
}

/** Starts the launcher and (unless `ready` is false) waits until every part serves and the gateway reports each upstream ready. */
export async function launchMesh(label: string, extraEnv: Record<string, string> = {}, { ready = true } = {}): Promise<LaunchedMesh> {
  await Promise.all([ensureRabbitMq(), ensureMongoServer()]);
  const prefix = uniqueName(`e2e-${label}`);
  const dataDir = mkdtempSync(join(tmpdir(), `mel-${label}-`));
  const mongo = await createTestMongoDatabase(`e2e_${label}`);
  const orderingMongo = await createTestMongoDatabase(`e2e_${label}_ordering`);
  const [identity = 0, catalog = 0, basket = 0, ordering = 0, gateway = 0] = await Promise.all(meshParts.map(() => freePort()));
  const address = (port: number) => `127.0.0.1:${port}`;
  const drain = "500";
  const env: Record<string, string> = {
    MEL_LOG_LEVEL: "info",
    MEL_RABBITMQ_URL: rabbitMqUrl,
    MEL_EVENTS_EXCHANGE: `${prefix}.events`,
    MEL_IDENTITY_ADDRESS: address(identity),
    MEL_CATALOG_ADDRESS: address(catalog),
    MEL_BASKET_ADDRESS: address(basket),
    MEL_ORDERING_ADDRESS: address(ordering),
    MEL_IDENTITY_HOST: "127.0.0.1",
    MEL_IDENTITY_PORT: String(identity),
    MEL_IDENTITY_DATABASE_URL: `sqlite:${join(dataDir, "identity.db")}`,
    MEL_IDENTITY_DEV_KEY_FILE: join(dataDir, "identity-kek"),
    // The lowest scrypt cost identity accepts: registrations stay cheap on a busy machine.
    MEL_IDENTITY_PASSWORD_HASH_COST: "10",
    MEL_IDENTITY_DRAIN_TIMEOUT: drain,
    MEL_CATALOG_HOST: "127.0.0.1",
    MEL_CATALOG_PORT: String(catalog),
    MEL_CATALOG_DATABASE_URL: `sqlite:${join(dataDir, "catalog.db")}`,
    MEL_CATALOG_QUEUE: `${prefix}.catalog`,
    MEL_CATALOG_OUTBOX_POLL_INTERVAL: "250",
    MEL_CATALOG_DRAIN_TIMEOUT: drain,
    MEL_BASKET_HOST: "127.0.0.1",
    MEL_BASKET_PORT: String(basket),
    MEL_BASKET_MONGODB_URL: mongo.url,
    MEL_BASKET_CATALOG_DEADLINE: "5000",
    MEL_BASKET_PAYMENT_TOKEN_KEY: randomBytes(32).toString("base64"),
    MEL_BASKET_QUEUE: `${prefix}.basket`,
    MEL_BASKET_OUTBOX_POLL_INTERVAL: "250",
    // A killed basket's claim on its outbox keeps those events back this long.
    MEL_BASKET_OUTBOX_CLAIM_TTL: "2000",
    MEL_BASKET_DRAIN_TIMEOUT: drain,
    MEL_ORDERING_HOST: "127.0.0.1",
    MEL_ORDERING_PORT: String(ordering),
    MEL_ORDERING_DATABASE_URL: `sqlite:${join(dataDir, "ordering.db")}`,
    MEL_ORDERING_MONGODB_URL: orderingMongo.url,
    MEL_ORDERING_QUEUE: `${prefix}.ordering`,
    MEL_ORDERING_STEP_POLL_INTERVAL: "200",
    MEL_ORDERING_OUTBOX_POLL_INTERVAL: "250",
    MEL_ORDERING_DRAIN_TIMEOUT: drain,
    MEL_GATEWAY_HOST: "127.0.0.1",
    MEL_GATEWAY_PORT: String(gateway),
    MEL_GATEWAY_AUTH_RATE_LIMIT_MAX: "100000",
    ...extraEnv,
  };
  for (const service of ["CATALOG", "BASKET", "ORDERING"]) env[`MEL_${service}_EVENT_RETRY_DELAYS`] = "50,250,1000";

  // Its own process group, as a terminal runs a foreground job: signalGroup() then reaches what Ctrl-C would.
  const launcher: ChildProcess = spawn(process.execPath, ["--enable-source-maps", "dist/scripts/start.js"], {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  let pending = "";
  // MEL_TEST_LOG_LEVEL (other than silent) shows the mesh's own lines as they come, as the in-process e2e mesh does.
  const echo = (process.env.MEL_TEST_LOG_LEVEL ?? "silent") !== "silent";
  const take = (chunk: Buffer) => {
    if (echo) process.stderr.write(chunk);
    pending += chunk.toString("utf8");
    const complete = pending.split("\n");
    pending = complete.pop() ?? "";
    for (const text of complete) {
      raw.push(text);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        // Plain text (a configuration error, a stack): kept in raw for the tail.
      }
    }
  };
  launcher.stdout?.on("data", take);
  launcher.stderr?.on("data", take);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => launcher.once("exit", (code, signal) => done({ code, signal })));

  const launcherLines = () => lines.filter((line) => line.service === "launcher");
  const pids = () => {
    const current: Partial<Record<MeshPart, number>> = {};
    for (const line of launcherLines()) {
      const part = meshParts.find((name) => line.msg === `${name} started` || line.msg === `${name} restarted`);
      if (part && typeof line.pid === "number") current[part] = line.pid;
    }
    return current;
  };
  const killEverything = () => {
    for (const pid of [launcher.pid, ...Object.values(pids())]) {
      try {
        if (pid !== undefined) process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  process.once("exit", killEverything);
  // The launcher's own lines (what died, what restarted) and then the last lines of everything.
  const tail = (count = 60) => [...raw.filter((text) => text.includes('"service":"launcher"')), "…", ...raw.slice(-count)].join("\n");
  let cleanedUp = false;
  const mesh: LaunchedMesh = {
    gatewayUrl: `http://${address(gateway)}`,
    ports: { identity, catalog, basket, ordering, gateway },
    lines,
    launcherLines,
    pids,
    signalGroup: (signal) => launcher.pid !== undefined && process.kill(-launcher.pid, signal),
    signal: (signal) => launcher.kill(signal),
    exit,
    tail,
    async cleanUp() {
      if (cleanedUp) return;
      cleanedUp = true;
      if (launcher.exitCode === null && launcher.signalCode === null) {
        launcher.kill("SIGTERM");
        const stopped = await Promise.race([exit.then(() => true), new Promise<false>((done) => setTimeout(() => done(false), 20_000).unref())]);
        if (!stopped) killEverything();
      }
      process.removeListener("exit", killEverything);
      rmSync(dataDir, { recursive: true, force: true });
      await mongo.drop().catch(() => undefined);
      await orderingMongo.drop().catch(() => undefined);
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
      await stopMongoServer();
    },
  };
  if (!ready) return mesh;
  try {
    // Each part on its own first: polling /readyz while they start would open the gateway's circuits to them.
    for (const part of meshParts) await waitUntilServing(mesh, part, 90_000);
    await waitUntilReady(mesh);
  } catch (error) {
    await mesh.cleanUp();
    throw error;
  }
  return mesh;
}

/** Waits until the gateway's /readyz answers 200: it serves, and each of its upstreams reports SERVING. */
export async function waitUntilReady(mesh: LaunchedMesh, timeoutMs = 30_000): Promise<void> {
  let exited = false;
  void mesh.exit.then(() => {
    exited = true;
  });
  try {
    await waitUntil(
      "the gateway to report every upstream ready",
      async () => {
        if (exited) throw new Error("the launcher exited");
        // /readyz answers within MEL_GATEWAY_READINESS_TIMEOUT (1 s); an answer much later than that is lost, and asked for again.
        const response = await fetch(`${mesh.gatewayUrl}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
        await response?.arrayBuffer().catch(() => undefined);
        return response?.status === 200;
      },
      timeoutMs,
      100,
    );
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${mesh.tail()}`);
  }
}

// grpc.health.v1.Health from grpc-health-check's own definition.
interface HealthClient extends Client {
  Check(request: { service: string }, options: { deadline: Date }, callback: (error: ServiceError | null, response?: { status: string }) => void): void;
}
const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => HealthClient;

/** Whether `part` itself answers: its gRPC health is SERVING, or, for the gateway, /healthz is 200. */
async function serves(mesh: LaunchedMesh, part: MeshPart): Promise<boolean> {
  if (part === "gateway") {
    const response = await fetch(`${mesh.gatewayUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    await response?.arrayBuffer().catch(() => undefined);
    return response?.status === 200;
  }
  const client = new HealthClient(`127.0.0.1:${mesh.ports[part]}`, credentials.createInsecure());
  try {
    return await new Promise<boolean>((answer) =>
      client.Check({ service: "" }, { deadline: new Date(Date.now() + 2000) }, (error, response) => answer(!error && response?.status === "SERVING")),
    );
  } finally {
    client.close();
  }
}

/** Waits until `part` answers on its own port (straight to it, not through the gateway). */
export async function waitUntilServing(mesh: LaunchedMesh, part: MeshPart, timeoutMs = 30_000): Promise<void> {
  try {
    await waitUntil(`${part} to serve`, () => serves(mesh, part), timeoutMs, 100);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${mesh.tail()}`);
  }
}
