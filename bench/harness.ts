// What every benchmark shares: its settings from the environment, a load loop
// at a fixed number of calls in flight, percentiles, and a table that states
// each figure against a baseline measured in the same run. Absolute numbers
// move with the machine and whatever else runs on it; ratios within one run
// are what to compare between runs.
//
// The load loop is written by hand: tinybench and mitata time one call after
// another, and a server is measured under concurrent calls.
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { durationMs, integer, parseConfig } from "../platform/config/index.js";

const benchEnv = z.object({
  /** Calls (or event producers) kept in flight at once. */
  MEL_BENCH_CONCURRENCY: integer({ min: 1, max: 1024, default: 32 }),
  /** Load before each measurement, thrown away: JIT, connection pools, SQLite's page cache. */
  MEL_BENCH_WARMUP: durationMs(1000),
  /** How long each request/response scenario is measured. */
  MEL_BENCH_DURATION: durationMs(5000),
  /** Events sent per events scenario. */
  MEL_BENCH_EVENTS: integer({ min: 1, max: 1_000_000, default: 5000 }),
  /** Buyers checking out at once in the checkout bench. */
  MEL_BENCH_BUYERS: integer({ min: 1, max: 10_000, default: 200 }),
  /**
   * Calls per second ghz may send, 0 for as many as the server takes. A fixed
   * low rate compares CPU per call on a machine that other work keeps busy,
   * where throughput says more about the neighbours than about the server.
   */
  MEL_BENCH_RATE: integer({ min: 0, max: 1_000_000, default: 0 }),
  /** Rounds of every scenario, alternating; a scenario's figures are those of its median round by CPU per call. */
  MEL_BENCH_ROUNDS: integer({ min: 1, max: 99, default: 1 }),
});

export interface BenchSettings {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  events: number;
  buyers: number;
  ratePerSecond: number;
  rounds: number;
}

export function readBenchSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const e = parseConfig(benchEnv, env);
  return {
    concurrency: e.MEL_BENCH_CONCURRENCY,
    warmupMs: e.MEL_BENCH_WARMUP,
    durationMs: e.MEL_BENCH_DURATION,
    events: e.MEL_BENCH_EVENTS,
    buyers: e.MEL_BENCH_BUYERS,
    ratePerSecond: e.MEL_BENCH_RATE,
    rounds: e.MEL_BENCH_ROUNDS,
  };
}

export interface LoadResult {
  name: string;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Calls `op` from `concurrency` loops at once, first for `warmupMs` (not
 * counted), then for `durationMs`. Calls still in flight at the end are waited
 * for and counted, and the elapsed time includes them. Any failed call stops
 * the benchmark: a figure that counts errors as answers is worse than none.
 */
export async function measureAtConcurrency(
  name: string,
  op: () => Promise<void>,
  options: Pick<BenchSettings, "concurrency" | "warmupMs" | "durationMs">,
): Promise<LoadResult> {
  await drive(op, options.concurrency, options.warmupMs, undefined);
  const latencies: number[] = [];
  const started = performance.now();
  await drive(op, options.concurrency, options.durationMs, latencies);
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { name, ops: sorted.length, seconds, opsPerSecond: sorted.length / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

async function drive(op: () => Promise<void>, concurrency: number, forMs: number, latencies: number[] | undefined): Promise<void> {
  const until = performance.now() + forMs;
  const loop = async () => {
    while (performance.now() < until) {
      const start = performance.now();
      await op();
      latencies?.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

/** Runs `task(0)` … `task(count - 1)` with at most `concurrency` running at once. */
export async function runPool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** `value` relative to `baseline`, e.g. "0.42x"; the baseline itself reads "1.00x". */
export function ratio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(2)}x`;
}

export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Prints `rows` under `columns`, the first column left-aligned and the rest right-aligned. */
export function printTable(title: string, columns: string[], rows: string[][]): void {
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => (row[index] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join("  ");
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const row of rows) console.log(line(row));
}

/**
 * Runs `cleanups` last-added first, every one even when an earlier one fails;
 * a failure is reported and makes the process exit non-zero.
 */
export async function cleanUp(cleanups: Array<() => Promise<unknown>>): Promise<void> {
  for (const cleanup of [...cleanups].reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error("bench clean-up step failed:", error);
      process.exitCode = 1;
    }
  }
}

/** One line naming the machine, so saved output says where it came from. */
export function describeMachine(settings: BenchSettings): string {
  const cpu = cpus();
  return `node ${process.version}, ${cpu.length} x ${cpu[0]?.model.trim() ?? "unknown CPU"}, concurrency ${settings.concurrency}`;
}
