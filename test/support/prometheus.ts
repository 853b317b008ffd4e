// Prometheus for tests that scrape a running mesh: Debian's prometheus
// (apt-get install prometheus; MEL_PROMETHEUS_BIN for another) run by hand
// on a free loopback port with a temporary TSDB and a 1 s scrape interval,
// never the packaged service. promtool checks an exposition the way
// Prometheus's own lint does.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { waitUntil } from "./wait.js";

const prometheusBin = process.env.MEL_PROMETHEUS_BIN ?? "/usr/bin/prometheus";
const promtoolBin = process.env.MEL_PROMTOOL_BIN ?? "/usr/bin/promtool";

export interface RunningPrometheus {
  url: string;
  /** The value of an instant PromQL query that must yield one sample; undefined while it yields none. */
  queryValue(promql: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `targets` (job name → host:port) every second; resolves once it is ready. */
export async function startPrometheus(targets: Record<string, string>): Promise<RunningPrometheus> {
  if (!existsSync(prometheusBin)) throw new Error(`no Prometheus at ${prometheusBin}: apt-get install prometheus (or set MEL_PROMETHEUS_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), "mel-prometheus-"));
  const jobs = Object.entries(targets)
    .map(([job, target]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${target}"]`)
    .join("\n");
  writeFileSync(join(dir, "prometheus.yml"), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs}\n`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    prometheusBin,
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
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
  const url = `http://127.0.0.1:${port}`;
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
      "Prometheus to be ready",
      async () => {
        if (exited) throw new Error(`Prometheus exited during start-up:\n${output}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true;
      },
      30_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    async queryValue(promql) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: { value: [number, string] }[] } };
      if (body.status !== "success") throw new Error(`PromQL ${promql}: ${body.error}`);
      const result = body.data?.result ?? [];
      if (result.length > 1) throw new Error(`PromQL ${promql} yields ${result.length} series; aggregate it to one`);
      return result[0] ? Number(result[0].value[1]) : undefined;
    },
    stop,
  };
}

/** promtool's verdict on an exposition: its complaints, one a line, empty when it passes. */
export function promtoolCheckMetrics(exposition: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(promtoolBin, ["check", "metrics"], (error, stdout, stderr) => {
      const lines = `${stdout}${stderr}`.split("\n").filter((line) => line.trim() !== "");
      if (error && lines.length === 0) reject(error);
      else resolve(lines);
    });
    child.stdin?.end(exposition);
  });
}
