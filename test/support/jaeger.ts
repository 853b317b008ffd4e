// Jaeger for tests that follow a trace: the all-in-one binary (Jaeger v2, an
// OpenTelemetry Collector build) with in-memory storage, OTLP/HTTP in and the
// query API out on free loopback ports. Built from tools/jaeger (a wrapper
// module pinning the version) with Go on first use and cached as
// GOPATH/bin/mel-jaeger with a stamp of the wrapper, like FerretDB.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";
import { waitUntil } from "./wait.js";

const wrapperDir = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), "tools/jaeger");

/** A stamp of the wrapper module: the cached binary is rebuilt when it changes. */
export function jaegerStamp(): string {
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum"]) hash.update(readFileSync(join(wrapperDir, file)));
  return hash.digest("hex").slice(0, 16);
}

/** MEL_JAEGER_BIN, else GOPATH/bin/mel-jaeger, (re)built from tools/jaeger when missing or stale (minutes on first use). */
export function jaegerBinary(): string {
  const configured = process.env.MEL_JAEGER_BIN;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`MEL_JAEGER_BIN=${configured} does not exist`);
    return configured;
  }
  const goPath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
  const binary = join(goPath, "bin", "mel-jaeger");
  const stamp = jaegerStamp();
  if (!existsSync(binary) || !existsSync(`${binary}.stamp`) || readFileSync(`${binary}.stamp`, "utf8").trim() !== stamp) {
    execFileSync("go", ["build", "-o", binary, "github.com/jaegertracing/jaeger/cmd/jaeger"], {
      cwd: wrapperDir,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 900_000,
    });
    writeFileSync(`${binary}.stamp`, `${stamp}\n`);
  }
  return binary;
}

export interface RunningJaeger {
  /** OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  otlpHttpUrl: string;
  /** Base URL of the query API and UI (`/api/traces/<id>`). */
  queryUrl: string;
  stop(): Promise<void>;
}

/** Jaeger's own configuration: what `jaeger` runs with no arguments, on the given ports, without its extra listeners. */
function configYaml(ports: { otlpGrpc: number; otlpHttp: number; queryHttp: number; queryGrpc: number }): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${ports.queryHttp}
    grpc:
      endpoint: 127.0.0.1:${ports.queryGrpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${ports.otlpGrpc}
      http:
        endpoint: 127.0.0.1:${ports.otlpHttp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** Starts Jaeger; resolves once its query API answers. */
export async function startJaeger(): Promise<RunningJaeger> {
  const binary = jaegerBinary();
  const [otlpGrpc, otlpHttp, queryHttp, queryGrpc] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const dir = mkdtempSync(join(tmpdir(), "mel-jaeger-"));
  const configFile = join(dir, "jaeger.yaml");
  writeFileSync(configFile, configYaml({ otlpGrpc, otlpHttp, queryHttp, queryGrpc }));
  const child: ChildProcess = spawn(binary, ["--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited = false;
  const exit = new Promise<void>((done) =>
    child.once("exit", () => {
      exited = true;
      done();
    }),
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const queryUrl = `http://127.0.0.1:${queryHttp}`;
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (!exited) {
      child.kill("SIGTERM");
      await exit;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      "Jaeger's query API",
      async () => {
        if (exited) throw new Error(`Jaeger exited during start-up:\n${output}`);
        const response = await fetch(`${queryUrl}/api/services`).catch(() => undefined);
        return response?.ok === true;
      },
      60_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { otlpHttpUrl: `http://127.0.0.1:${otlpHttp}`, queryUrl, stop };
}

/** One span as Jaeger's query API returns it, with its process's service name and tags as a map. */
export interface JaegerSpan {
  spanId: string;
  parentSpanId: string | undefined;
  operationName: string;
  service: string;
  tags: Record<string, unknown>;
  links: string[];
}

interface JaegerTraceJson {
  spans: {
    spanID: string;
    operationName: string;
    processID: string;
    references?: { refType: string; spanID: string }[];
    tags?: { key: string; value: unknown }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

/** The spans of trace `traceId` Jaeger holds now (none when it has not seen the trace). */
export async function traceSpans(jaeger: RunningJaeger, traceId: string): Promise<JaegerSpan[]> {
  const response = await fetch(`${jaeger.queryUrl}/api/traces/${traceId}`);
  if (response.status === 404) return [];
  if (!response.ok) throw new Error(`Jaeger answered ${response.status} for trace ${traceId}: ${await response.text()}`);
  const body = (await response.json()) as { data?: JaegerTraceJson[] };
  const found = body.data?.[0];
  if (!found) return [];
  return found.spans.map((span) => ({
    spanId: span.spanID,
    parentSpanId: span.references?.find((reference) => reference.refType === "CHILD_OF")?.spanID,
    links: (span.references ?? []).filter((reference) => reference.refType === "FOLLOWS_FROM").map((reference) => reference.spanID),
    operationName: span.operationName,
    service: found.processes[span.processID]?.serviceName ?? "",
    tags: Object.fromEntries((span.tags ?? []).map((tag) => [tag.key, tag.value])),
  }));
}
