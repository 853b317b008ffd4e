// Servers under benchmark run as their own processes, as in production: one
// event loop each, pinned to a core with taskset when the machine has two or
// more, so the load generator never competes with the server it measures.
// CPU time comes from /proc/<pid>/stat, which counts every thread (libuv's
// pool, V8's GC and compiler threads) and nothing of the other processes.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { acceptsConnections } from "../test/support/ports.js";
import { waitUntil } from "../test/support/wait.js";

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Which cores each role runs on. With two cores the server under test gets
 * core 0 and everything else (load generator, upstreams) core 1; with more,
 * upstreams get core 1 and the load generator the rest. One core: no pinning.
 */
export interface CorePlan {
  server: string | undefined;
  upstream: string | undefined;
  load: string | undefined;
  description: string;
}

export function corePlan(count = cpus().length): CorePlan {
  if (count < 2 || !hasTaskset()) return { server: undefined, upstream: undefined, load: undefined, description: "not pinned (one core or no taskset)" };
  if (count === 2) return { server: "0", upstream: "1", load: "1", description: "server on core 0; load generator and upstreams on core 1" };
  const load = count === 3 ? "2" : `2-${count - 1}`;
  return { server: "0", upstream: "1", load, description: `server on core 0, upstreams on core 1, load generator on cores ${load}` };
}

let tasksetFound: boolean | undefined;
function hasTaskset(): boolean {
  if (tasksetFound === undefined) {
    try {
      execFileSync("taskset", ["--version"], { stdio: "ignore" });
      tasksetFound = true;
    } catch {
      tasksetFound = false;
    }
  }
  return tasksetFound;
}

/** `command args` prefixed with `taskset -c <cores>` when `cores` is set. */
export function pinned(cores: string | undefined, command: string, args: string[]): [string, string[]] {
  return cores === undefined ? [command, args] : ["taskset", ["-c", cores, command, ...args]];
}

export interface BenchProcess {
  name: string;
  pid: number;
  /** User + system CPU seconds the process has used so far (every thread). */
  cpuSeconds(): number;
  /** The last lines it wrote, for failure messages. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it is gone. */
  stop(): Promise<void>;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cores?: string | undefined;
  /** Resolves start once this port accepts TCP connections. */
  port: number;
  /** Where stdout and stderr go (the service's log lines); a file keeps the write cost real. */
  logFile: string;
}

/** Starts a process (pinned when `cores` is set) and waits until it listens on `port`. */
export async function startProcess(options: StartProcessOptions): Promise<BenchProcess> {
  const [command, args] = pinned(options.cores, options.command, options.args);
  const fd = openSync(options.logFile, "a");
  const child: ChildProcess = spawn(command, args, { cwd: repositoryRoot, env: options.env ?? process.env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const logTail = () => (existsSync(options.logFile) ? readFileSync(options.logFile, "utf8").split("\n").slice(-30).join("\n") : "");
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((done) => child.once("exit", () => done()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  };
  try {
    await waitUntil(
      `${options.name} to listen on port ${options.port}`,
      async () => {
        if (exited) throw new Error(`${options.name} exited during start-up:\n${logTail()}`);
        return acceptsConnections(options.port);
      },
      120_000,
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name} has no pid`);
  return { name: options.name, pid, cpuSeconds: () => cpuSecondsOf(pid), logTail, stop };
}

/**
 * `node --enable-source-maps dist/<entry>.js`: a part of Mel as `npm start`
 * and the image run it, from the build. Running the sources through tsx would
 * measure its transform too (it wraps every function in a naming helper).
 * `nodeOptions` go before the entry (`--import dist/platform/telemetry/register.js`).
 * Fails when the build is missing or older than a source file; `npm run bench` builds first.
 */
export function builtEntry(entry: string, nodeOptions: string[] = []): { command: string; args: string[] } {
  const built = join(repositoryRoot, "dist", entry.replace(/\.ts$/, ".js"));
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const newer = ["platform", "services", "gateway", "gen", "scripts"].flatMap((dir) => newerSources(join(repositoryRoot, dir), builtAt));
  if (builtAt === 0 || newer.length > 0) {
    throw new Error(
      `${built} is ${builtAt === 0 ? "missing" : `older than ${newer.slice(0, 3).join(", ")}`}: run npm run build (npm run bench builds before it runs)`,
    );
  }
  return { command: process.execPath, args: ["--enable-source-maps", ...nodeOptions, built] };
}

function newerSources(dir: string, than: number): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((file) => file.isFile() && file.name.endsWith(".ts") && !file.name.endsWith(".test.ts"))
    .map((file) => join(file.parentPath, file.name))
    .filter((file) => statSync(file).mtimeMs > than);
}

/** `node --import tsx <entry>`: a TypeScript file of this repository as its own process (the benchmarks' own reference servers). */
export function nodeEntry(entry: string, nodeOptions: string[] = []): { command: string; args: string[] } {
  return { command: process.execPath, args: [...nodeOptions, "--import", "tsx", join(repositoryRoot, entry)] };
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid` in seconds; 0 once the process is gone (or on a system without /proc). */
export function cpuSecondsOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** Pids of processes whose command name (/proc/<pid>/comm) satisfies `match`. */
export function pidsByCommand(match: (comm: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (match(readFileSync(`/proc/${entry}/comm`, "utf8").trim())) pids.push(Number(entry));
    } catch {
      // The process ended between readdir and read.
    }
  }
  return pids;
}

/** The parent pid of `pid`, or undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used by a changing set of processes between `start()` and
 * `read()`: a process first seen at read() counts from zero (it started
 * during the run), one gone by then counts up to its last sample.
 */
export function cpuMeter(pidsNow: () => number[]): { start(): void; sample(): void; read(): number } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let started = false;
  const sample = () => {
    for (const pid of pidsNow()) {
      const seconds = cpuSecondsOf(pid);
      if (!first.has(pid)) first.set(pid, started ? 0 : seconds);
      last.set(pid, seconds);
    }
  };
  return {
    start() {
      first.clear();
      last.clear();
      sample();
      started = true;
    },
    sample,
    read() {
      sample();
      let total = 0;
      for (const [pid, seconds] of last) total += seconds - (first.get(pid) ?? 0);
      return total;
    },
  };
}

/** Moves every thread of a running process to `cores` (no-op when unpinned). */
export function repin(target: BenchProcess, cores: string | undefined): void {
  if (cores !== undefined) execFileSync("taskset", ["-a", "-p", "-c", cores, String(target.pid)], { stdio: "ignore" });
}
