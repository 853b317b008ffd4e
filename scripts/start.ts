// `npm start`: the whole mesh on one machine. Each service runs as its own
// process (exactly as it would in a container, `node dist/services/<name>/main.js`),
// started in dependency order and supervised (platform/process/supervisor.ts):
// a part that dies is started again after a back-off while the others keep
// serving, and a crash loop or a configuration error stops the whole mesh with
// a non-zero exit code. Ctrl-C or SIGTERM drains them all and exits 0.
//
// Run from source (node --import tsx scripts/start.ts, as the storefront's
// browser tests do) it starts each part from its main.ts the same way.
//
// When no MongoDB answers at the default URL of basket and of ordering's read
// model (both 127.0.0.1:27017, databases mel-basket and mel-ordering), the
// FerretDB launcher from tools/ferretdb is started too (built first if Go is
// installed and it is missing), so the demo needs no MongoDB install.
// MEL_BASKET_MONGODB_URL and MEL_ORDERING_MONGODB_URL given by the user are
// used as they are; with both given no FerretDB is started.
//
// Traces: when no OTEL_EXPORTER_OTLP_ENDPOINT is set and Jaeger has been built
// (GOPATH/bin/mel-jaeger, from tools/jaeger; MEL_JAEGER_BIN for another), it
// is started with its defaults (in memory; OTLP on 4317/4318, UI on 16686)
// and every part exports to it. MEL_START_JAEGER=false leaves it out.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createLogger, type LogLevel, logLevels } from "../platform/log/index.js";
import { createSupervisor } from "../platform/process/index.js";
import { entryPointOf, meshParts, nodeArgumentsFor } from "./mesh-parts.js";

const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Built, this file is dist/scripts/start.js; from source, scripts/start.ts.
const projectRoot = basename(distRoot) === "dist" ? resolve(distRoot, "..") : distRoot;
const configuredLevel = process.env.MEL_LOG_LEVEL as LogLevel | undefined;
// A bad MEL_LOG_LEVEL is the services' to report (they exit 2 naming it); the launcher still logs.
const logger = createLogger({ service: "launcher", level: configuredLevel && logLevels.includes(configuredLevel) ? configuredLevel : "info" });
const supervisor = createSupervisor({ logger });

function log(message: string): void {
  logger.info(message);
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
    log(
      "no MongoDB at 127.0.0.1:27017, and Go is not installed to build FerretDB; set MEL_BASKET_MONGODB_URL and MEL_ORDERING_MONGODB_URL. Basket and ordering will not start",
    );
    return undefined;
  }
  const binary = join(gopath, "bin", "mel-ferretdb");
  if (existsSync(binary)) return binary;
  log(`no MongoDB at 127.0.0.1:27017: building FerretDB into ${binary} (first start only)`);
  try {
    execFileSync("go", ["build", "-o", binary, "."], { cwd: join(projectRoot, "tools", "ferretdb"), stdio: ["ignore", "inherit", "inherit"] });
    return binary;
  } catch (error) {
    log(
      `building FerretDB failed (${error instanceof Error ? error.message : String(error)}); set MEL_BASKET_MONGODB_URL and MEL_ORDERING_MONGODB_URL. Basket and ordering will not start`,
    );
    return undefined;
  }
}

async function startFerretDbIfNeeded(): Promise<void> {
  // Basket and ordering's read model both default to 127.0.0.1:27017: one server serves both.
  if (process.env.MEL_BASKET_MONGODB_URL && process.env.MEL_ORDERING_MONGODB_URL) return;
  if (await isListening("127.0.0.1", 27017)) return;
  const binary = findOrBuildFerretDb();
  if (!binary) return;
  const dataDir = join(projectRoot, "data", "ferretdb");
  mkdirSync(dataDir, { recursive: true });
  supervisor.add({
    name: "ferretdb",
    start: () =>
      spawn(binary, ["--listen-addr", "127.0.0.1:27017", "--handler", "sqlite", "--sqlite-url", `file:${dataDir}/`, "--log-level", "error"], {
        stdio: ["ignore", "inherit", "inherit"],
        detached: true,
      }),
    stopsLast: true,
  });
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
    supervisor.add({ name: "jaeger", start: () => spawn(binary, [], { stdio: ["ignore", "ignore", "inherit"], detached: true }), stopsLast: true });
    for (let attempt = 0; attempt < 100 && !(await isListening("127.0.0.1", 4318)); attempt++) {
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }
  // Inherited by every part started below.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318";
  log("traces go to Jaeger: UI on http://localhost:16686");
}

// Ctrl-C reaches the launcher alone (each part runs in a process group of its
// own, below), so every part gets exactly one SIGTERM and drains, instead of a
// terminal's SIGINT followed by the launcher's SIGTERM, which a part takes as
// an impatient second signal and exits without draining.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void supervisor.stop());
void supervisor.stopped.then((code) => process.exit(code));

await startFerretDbIfNeeded();
await startJaegerIfBuilt();
for (const part of meshParts) {
  const built = join(projectRoot, "dist", entryPointOf(part));
  const source = join(projectRoot, entryPointOf(part).replace(/\.js$/, ".ts"));
  // Built output (npm start, exactly what the image runs), or the sources through tsx when run from a checkout without a build (the browser tests).
  // Telemetry (platform/telemetry/register) loads before the part, so its instrumentations see every module.
  const args = existsSync(built)
    ? nodeArgumentsFor(part)
    : existsSync(source)
      ? ["--import", "tsx", "--import", pathToFileURL(join(projectRoot, "platform", "telemetry", "register.ts")).href, source]
      : undefined;
  if (!args) continue;
  supervisor.add({
    name: part,
    start: () => spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"], cwd: projectRoot, detached: true }),
  });
}
log(`started ${Object.keys(supervisor.pids()).join(", ")}`);
