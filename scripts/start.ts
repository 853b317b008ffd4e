// `npm start`: the whole mesh on one machine. Each service runs as its own
// process (exactly as it would in a container, `node dist/services/<name>/main.js`),
// started in dependency order; Ctrl-C or SIGTERM drains them all and exits.
//
// Run from source (node --import tsx scripts/start.ts, as the storefront's
// browser tests do) it starts each part from its main.ts the same way.
//
// When no MongoDB answers at the basket's default URL, the FerretDB launcher
// from tools/ferretdb is started too (built first if Go is installed and it is
// missing), so the demo needs no MongoDB install. A MEL_BASKET_MONGODB_URL
// given by the user is used as is.
//
// Traces: when no OTEL_EXPORTER_OTLP_ENDPOINT is set and Jaeger has been built
// (GOPATH/bin/mel-jaeger, from tools/jaeger; MEL_JAEGER_BIN for another), it
// is started with its defaults (in memory; OTLP on 4317/4318, UI on 16686)
// and every part exports to it. MEL_START_JAEGER=false leaves it out.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Built, this file is dist/scripts/start.js; from source, scripts/start.ts.
const projectRoot = basename(distRoot) === "dist" ? resolve(distRoot, "..") : distRoot;
const parts = ["services/identity", "services/catalog", "services/basket", "services/ordering", "gateway"];
const children = new Map<string, ChildProcess>();
let stopping = false;

function log(message: string): void {
  process.stdout.write(`${JSON.stringify({ time: Date.now(), service: "launcher", msg: message })}\n`);
}

function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.setTimeout(500);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(false);
    });
    socket.once("error", () => done(false));
  });
}

/**
 * The FerretDB wrapper: MEL_FERRETDB_BIN, else GOPATH/bin/mel-ferretdb, built
 * there from tools/ferretdb on first start when Go is installed (a minute or
 * two, through the Go module proxy), so a fresh machine needs no MongoDB.
 */
function findOrBuildFerretDb(): string | undefined {
  if (process.env.MEL_FERRETDB_BIN && existsSync(process.env.MEL_FERRETDB_BIN)) return process.env.MEL_FERRETDB_BIN;
  let gopath: string;
  try {
    gopath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
  } catch {
    log("no MongoDB at 127.0.0.1:27017, and Go is not installed to build FerretDB; set MEL_BASKET_MONGODB_URL. Basket will not start");
    return undefined;
  }
  const binary = join(gopath, "bin", "mel-ferretdb");
  if (existsSync(binary)) return binary;
  log(`no MongoDB at 127.0.0.1:27017: building FerretDB into ${binary} (first start only)`);
  try {
    execFileSync("go", ["build", "-o", binary, "."], { cwd: join(projectRoot, "tools", "ferretdb"), stdio: ["ignore", "inherit", "inherit"] });
    return binary;
  } catch (error) {
    log(`building FerretDB failed (${error instanceof Error ? error.message : String(error)}); set MEL_BASKET_MONGODB_URL. Basket will not start`);
    return undefined;
  }
}

async function startFerretDbIfNeeded(): Promise<void> {
  if (process.env.MEL_BASKET_MONGODB_URL) return;
  if (await isListening("127.0.0.1", 27017)) return;
  const binary = findOrBuildFerretDb();
  if (!binary) return;
  const dataDir = join(projectRoot, "data", "ferretdb");
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(binary, ["--listen-addr", "127.0.0.1:27017", "--handler", "sqlite", "--sqlite-url", `file:${dataDir}/`, "--log-level", "error"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  watch("ferretdb", child);
  for (let attempt = 0; attempt < 50 && !(await isListening("127.0.0.1", 27017)); attempt++) {
    await new Promise((wake) => setTimeout(wake, 100));
  }
  log("FerretDB (MongoDB protocol) listening on 127.0.0.1:27017");
}

/** Jaeger's binary if it was built (never built here: that takes minutes), undefined otherwise. */
function builtJaeger(): string | undefined {
  if (process.env.MEL_JAEGER_BIN) return existsSync(process.env.MEL_JAEGER_BIN) ? process.env.MEL_JAEGER_BIN : undefined;
  try {
    const binary = join(execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim(), "bin", "mel-jaeger");
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

async function startJaegerIfBuilt(): Promise<void> {
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return;
  if (process.env.MEL_START_JAEGER === "false") return;
  const binary = builtJaeger();
  if (!binary) return;
  if (!(await isListening("127.0.0.1", 4318))) {
    const child = spawn(binary, [], { stdio: ["ignore", "ignore", "inherit"] });
    watch("jaeger", child);
    for (let attempt = 0; attempt < 100 && !(await isListening("127.0.0.1", 4318)); attempt++) {
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }
  // Inherited by every part started below.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318";
  log("traces go to Jaeger: UI on http://localhost:16686");
}

function watch(name: string, child: ChildProcess): void {
  children.set(name, child);
  child.once("exit", (code, signal) => {
    children.delete(name);
    if (stopping) return;
    log(`${name} exited (code ${code ?? "none"}, signal ${signal ?? "none"}); stopping the mesh`);
    void stopAll(1);
  });
}

async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log("stopping: draining every service");
  const exitOf = (child: ChildProcess) =>
    new Promise<void>((done) => (child.exitCode !== null || child.signalCode !== null ? done() : child.once("exit", () => done())));
  const timeout = (ms: number) => new Promise<void>((wake) => setTimeout(wake, ms));
  // Services first, FerretDB and Jaeger last, so the basket can finish its writes and the last spans arrive.
  const services = [...children].filter(([name]) => name !== "ferretdb" && name !== "jaeger").map(([, child]) => child);
  for (const child of services) child.kill("SIGTERM");
  await Promise.race([Promise.all(services.map(exitOf)), timeout(15_000)]);
  const rest = [...children.values()];
  for (const child of rest) child.kill("SIGTERM");
  await Promise.race([Promise.all(rest.map(exitOf)), timeout(5_000)]);
  for (const child of children.values()) child.kill("SIGKILL");
  process.exit(exitCode);
}

process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

await startFerretDbIfNeeded();
await startJaegerIfBuilt();
for (const part of parts) {
  const built = join(distRoot, part, "main.js");
  const source = join(distRoot, part, "main.ts");
  // Telemetry (platform/telemetry/register) loads before the part, so its instrumentations see every module.
  const telemetry = join(distRoot, "platform", "telemetry", existsSync(built) ? "register.js" : "register.ts");
  const args = existsSync(built)
    ? ["--enable-source-maps", "--import", pathToFileURL(telemetry).href, built]
    : existsSync(source)
      ? ["--import", "tsx", "--import", pathToFileURL(telemetry).href, source]
      : undefined;
  if (!args) continue;
  const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"], cwd: projectRoot });
  watch(part.replace("services/", ""), child);
}
log(`started ${[...children.keys()].join(", ")}`);
