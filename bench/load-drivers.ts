// Load from tools that are not the bottleneck: ghz for gRPC, wrk for HTTP,
// each pinned to the load generator's cores. A run is a warm-up (thrown
// away), then the measured run; the CPU each server process used is sampled
// around the measured run only, so "CPU per call" is the server's cost, not
// the warm-up's or the start-up's.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchProcess } from "./processes.js";
import { pinned } from "./processes.js";
import { ghzBinary, wrkBinary } from "./tools.js";

export interface Measurement {
  name: string;
  calls: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU seconds each watched process used during the measured run, by process name. */
  cpuSeconds: Record<string, number>;
}

export interface RunShape {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Cores of the load generator (taskset -c), unpinned when undefined. */
  cores: string | undefined;
  /** Processes whose CPU time is reported. */
  watch: BenchProcess[];
  /** Calls per second at most (ghz -r); 0 or absent: unlimited. */
  ratePerSecond?: number;
}

export interface GhzTarget {
  address: string;
  /** "mel.catalog.v1.CatalogService.GetItem" */
  call: string;
  protoset: string;
  /** The binary request message. */
  requestFile: string;
}

/** ghz at `concurrency` in flight over one connection, as one grpc-js channel would. */
export async function measureGrpc(name: string, target: GhzTarget, shape: RunShape): Promise<Measurement> {
  const args = (ms: number) => [
    "--insecure",
    "--protoset",
    target.protoset,
    "--call",
    target.call,
    "-B",
    target.requestFile,
    "-c",
    String(shape.concurrency),
    ...(shape.ratePerSecond ? ["-r", String(shape.ratePerSecond)] : []),
    "-z",
    `${ms}ms`,
    "-O",
    "json",
    target.address,
  ];
  const ghz = ghzBinary();
  await run(...pinned(shape.cores, ghz, args(shape.warmupMs)));
  const before = cpuOf(shape.watch);
  const report = JSON.parse(await run(...pinned(shape.cores, ghz, args(shape.durationMs)))) as GhzReport;
  const cpuSeconds = cpuSince(shape.watch, before);
  const latency = (percentage: number) => (report.latencyDistribution?.find((entry) => entry.percentage === percentage)?.latency ?? Number.NaN) / 1e6;
  const ok = report.statusCodeDistribution?.OK ?? 0;
  // When -z runs out, ghz closes its connection under the calls still in
  // flight: at most `concurrency` of those are the tool stopping, not failures.
  const cutAtEnd = Object.entries(report.errorDistribution ?? {})
    .filter(([message]) => /the connection is draining|use of closed network connection/.test(message))
    .reduce((sum, [, count]) => sum + count, 0);
  const errors = report.count - ok - Math.min(cutAtEnd, shape.concurrency);
  const seconds = report.total / 1e9;
  return { name, calls: ok, seconds, perSecond: ok / seconds, p50Ms: latency(50), p99Ms: latency(99), errors, cpuSeconds };
}

interface GhzReport {
  count: number;
  total: number;
  rps: number;
  latencyDistribution: Array<{ percentage: number; latency: number }> | null;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
}

export interface HttpTarget {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Bytes every good response body contains (the item id; for gRPC-Web also its OK trailer). */
  mustContain: string[];
}

/**
 * wrk with one thread and `concurrency` keep-alive connections. A Lua hook
 * checks every response (status 200 and the expected bytes), so a gateway
 * answering errors fast cannot pass for a fast gateway.
 */
export async function measureHttp(name: string, target: HttpTarget, shape: RunShape, workDir: string): Promise<Measurement> {
  const script = join(workDir, `${name.replace(/[^a-z0-9]+/gi, "-")}.lua`);
  writeFileSync(script, wrkScript(target));
  const args = (ms: number) => ["-t1", `-c${shape.concurrency}`, `-d${Math.max(1, Math.round(ms / 1000))}s`, "--latency", "-s", script, target.url];
  const wrk = wrkBinary();
  await run(...pinned(shape.cores, wrk, args(shape.warmupMs)));
  const before = cpuOf(shape.watch);
  const output = await run(...pinned(shape.cores, wrk, args(shape.durationMs)));
  const cpuSeconds = cpuSince(shape.watch, before);
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? Number.NaN);
  const calls = number(/(\d+) requests in/);
  const seconds = durationSeconds(/requests in ([\d.]+\w+),/.exec(output)?.[1] ?? "");
  const bad = number(/bad responses: (\d+)/);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = bad + (socketErrors ? socketErrors.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0);
  const latency = (percent: number) => durationSeconds(new RegExp(`^\\s+${percent}%\\s+([\\d.]+\\w+)`, "m").exec(output)?.[1] ?? "") * 1000;
  return { name, calls, seconds, perSecond: number(/Requests\/sec:\s+([\d.]+)/), p50Ms: latency(50), p99Ms: latency(99), errors, cpuSeconds };
}

function wrkScript(target: HttpTarget): string {
  const lua = (bytes: Uint8Array | string) => `"${[...(typeof bytes === "string" ? Buffer.from(bytes) : bytes)].map((byte) => `\\${byte}`).join("")}"`;
  const lines = [`wrk.method = "${target.method ?? "GET"}"`];
  for (const [header, value] of Object.entries(target.headers ?? {})) lines.push(`wrk.headers[${lua(header)}] = ${lua(value)}`);
  if (target.body) lines.push(`wrk.body = ${lua(target.body)}`);
  lines.push(
    `local expected = { ${target.mustContain.map(lua).join(", ")} }`,
    "local threads = {}",
    "function setup(thread) table.insert(threads, thread) end",
    "function init(args) bad = 0 end",
    "function response(status, headers, body)",
    "  if status ~= 200 then bad = bad + 1 return end",
    "  for _, text in ipairs(expected) do",
    "    if not string.find(body, text, 1, true) then bad = bad + 1 return end",
    "  end",
    "end",
    "function done(summary, latency, requests)",
    "  local total = 0",
    '  for _, thread in ipairs(threads) do total = total + thread:get("bad") end',
    '  io.write("bad responses: " .. total .. "\\n")',
    "end",
  );
  return `${lines.join("\n")}\n`;
}

/** "1.23ms", "850.00us", "2.01s", "5.00m" in seconds. */
function durationSeconds(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return Number.NaN;
  const scale = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * scale;
}

function cpuOf(processes: BenchProcess[]): Map<string, number> {
  return new Map(processes.map((process) => [process.name, process.cpuSeconds()]));
}

function cpuSince(processes: BenchProcess[], before: Map<string, number>): Record<string, number> {
  return Object.fromEntries(processes.map((process) => [process.name, process.cpuSeconds() - (before.get(process.name) ?? 0)]));
}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr on a non-zero exit. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-2000)}`));
    });
  });
}
