// Shared MongoDB-protocol setup for tests. No MongoDB runs on our machines, so
// unless MEL_TEST_MONGODB_URL names a real server, this starts FerretDB v1 (built from
// tools/ferretdb) once per test process on a free loopback port and stops it
// when the process ends. Its backend is a fresh PostgreSQL database by default:
// FerretDB's SQLite backend answers concurrent writers with SQLITE_BUSY
// ("database is locked") under load such as the 500-checkout test, which no
// MongoDB does. MEL_TEST_FERRETDB_BACKEND=sqlite picks SQLite in a temp folder.
// Each test file gets a fresh, uniquely named database, dropped afterwards.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import mongoose from "mongoose";
import { acceptsConnections, freePort } from "./ports.js";
import { createTestPostgresDatabase, dropOrphanedTestDatabases } from "./postgres.js";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Connections each MongoDB client of a test (a basket, the test's own) may open to FerretDB. */
const clientPoolSize = 8;
/** FerretDB's PostgreSQL connections: room for three clients at once, well under PostgreSQL's 100. */
const ferretDbPostgresPool = 30;

const wrapperDir = join(repositoryRoot, "tools/ferretdb");

export interface MongoServer {
  /** mongodb://host:port, or MEL_TEST_MONGODB_URL as given (its database is replaced per test file). */
  baseUrl: string;
  /** "mongodb" for MEL_TEST_MONGODB_URL, "ferretdb" for the server started here. */
  kind: "mongodb" | "ferretdb";
  /** Stops the FerretDB started here and removes its data; a no-op for MEL_TEST_MONGODB_URL. */
  stop(): Promise<void>;
}

export interface TestMongoDatabase {
  /** Connection URL of the fresh database, for mongoose.createConnection or a service's config. */
  url: string;
  name: string;
  /** Drops the database. */
  drop(): Promise<void>;
}

/** The FerretDB wrapper binary: MEL_FERRETDB_BIN, else GOPATH/bin/mel-ferretdb, built there when missing. */
export function ferretDbBinary(): string {
  const configured = process.env.MEL_FERRETDB_BIN;
  if (configured) {
    if (!existsSync(configured))
      throw new Error(`MEL_FERRETDB_BIN=${configured} does not exist; build it with (cd tools/ferretdb && go build -o ${configured} .)`);
    return configured;
  }
  let goPath: string;
  try {
    goPath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
  } catch (error) {
    throw new Error(
      `cannot find FerretDB: MEL_FERRETDB_BIN is unset and Go is not available to build tools/ferretdb (${messageOf(error)}); install Go or set MEL_TEST_MONGODB_URL`,
    );
  }
  const binary = join(goPath, "bin", "mel-ferretdb");
  if (!existsSync(binary)) {
    try {
      // Only the Go module proxy is needed; the first build takes a minute or two.
      execFileSync("go", ["build", "-o", binary, "."], { cwd: wrapperDir, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
    } catch (error) {
      throw new Error(`building FerretDB from tools/ferretdb failed: ${messageOf(error)}`);
    }
  }
  return binary;
}

function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "stderr" in error && error.stderr) return String(error.stderr).trim().slice(-2000);
  return error instanceof Error ? error.message : String(error);
}

/** Starts FerretDB on a free port; resolves once it accepts TCP connections. */
async function startFerretDb(): Promise<MongoServer> {
  const binary = ferretDbBinary();
  let lastError = "";
  // A port found free can be taken before FerretDB binds it: try another then.
  const backend = process.env.MEL_TEST_FERRETDB_BACKEND ?? "postgresql";
  if (backend !== "postgresql" && backend !== "sqlite")
    throw new Error(`MEL_TEST_FERRETDB_BACKEND must be "postgresql" or "sqlite", not ${JSON.stringify(backend)}`);
  if (backend === "postgresql") await dropOrphanedTestDatabases("ferretdb");
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "mel-ferretdb-"));
    // Named with this process's pid, so a later run can drop it if this one is killed before its clean-up.
    const backendStore = backend === "postgresql" ? await createTestPostgresDatabase(`ferretdb_${process.pid}`) : undefined;
    // FerretDB v1 stalls for good once more operations arrive at once than its
    // PostgreSQL pool holds connections (seen with 500 concurrent checkouts);
    // its pool stays above what the test clients can open (clientPoolSize each).
    const backendUrl = backendStore ? new URL(backendStore.url) : undefined;
    backendUrl?.searchParams.set("pool_max_conns", String(ferretDbPostgresPool));
    const backendArgs = backendUrl
      ? ["--handler", "postgresql", "--postgresql-url", backendUrl.toString()]
      : ["--handler", "sqlite", "--sqlite-url", `file:${dataDir}/`];
    const child = spawn(binary, ["--listen-addr", `127.0.0.1:${port}`, ...backendArgs, "--log-level", "error"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    child.once("error", (error) => {
      exited = true;
      keep(Buffer.from(error.message));
    });
    // The server must not keep the test process alive, and dies with it.
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);

    const deadline = Date.now() + 20_000;
    while (!exited && Date.now() < deadline && !(await acceptsConnections(port))) {
      await new Promise((wake) => setTimeout(wake, 50));
    }
    if (!exited && (await acceptsConnections(port))) {
      const stop = async () => {
        await stopChild(child, dataDir, killOnExit);
        await backendStore?.drop();
      };
      return { baseUrl: `mongodb://127.0.0.1:${port}/?maxPoolSize=${clientPoolSize}`, kind: "ferretdb", stop };
    }
    lastError = exited ? `exited with code ${child.exitCode}: ${output.trim()}` : `not accepting connections on port ${port} after 20 s: ${output.trim()}`;
    await stopChild(child, dataDir, killOnExit);
    await backendStore?.drop();
  }
  throw new Error(`FerretDB (${binary}) did not start: ${lastError}`);
}

async function stopChild(child: ChildProcess, dataDir: string, killOnExit: () => void): Promise<void> {
  process.removeListener("exit", killOnExit);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

let server: Promise<MongoServer> | undefined;

/**
 * The MongoDB-protocol server for this test process: MEL_TEST_MONGODB_URL when set,
 * otherwise FerretDB started on first call. Rejects with the reason when it
 * cannot start: tests that need it fail loudly rather than skip.
 */
export function ensureMongoServer(): Promise<MongoServer> {
  server ??= (async () => {
    const configured = process.env.MEL_TEST_MONGODB_URL;
    if (configured) return { baseUrl: configured, kind: "mongodb" as const, stop: async () => undefined };
    return startFerretDb();
  })().catch((error: unknown) => {
    server = undefined;
    throw new Error(
      `no MongoDB-protocol server for tests: ${error instanceof Error ? error.message : String(error)} (set MEL_TEST_MONGODB_URL to use a running MongoDB)`,
    );
  });
  return server;
}

/** Stops the server ensureMongoServer() started (call it from the test file's after hook). */
export async function stopMongoServer(): Promise<void> {
  const current = server;
  server = undefined;
  if (current) await (await current).stop();
}

/**
 * `url` with its database path replaced by `name`, keeping credentials, every
 * host of a replica set and the options (WHATWG URL cannot parse "a:1,b:2").
 */
export function withDatabase(url: string, name: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) throw new Error(`not a mongodb:// URL: ${url.replace(/:[^:@/]*@/, ":***@")}`);
  return `${match[1]}/${name}${match[2] ?? ""}`;
}

/** A database named `mel_<label>_<random>` on the test server; created on first write, as MongoDB does. */
export async function createTestMongoDatabase(label: string): Promise<TestMongoDatabase> {
  const { baseUrl } = await ensureMongoServer();
  const name = `mel_${label.toLowerCase().replace(/[^a-z0-9]+/g, "_")}_${randomBytes(4).toString("hex")}`.slice(0, 60);
  const databaseUrl = withDatabase(baseUrl, name);
  return {
    url: databaseUrl,
    name,
    async drop() {
      const connection = await mongoose.createConnection(databaseUrl, { serverSelectionTimeoutMS: 5000 }).asPromise();
      try {
        await connection.dropDatabase();
      } finally {
        await connection.close();
      }
    },
  };
}
