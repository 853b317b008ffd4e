// What telemetry costs a served call: ghz drives catalog's GetItem with
// telemetry not loaded (the baseline), loaded with no endpoint (metrics only,
// /metrics served, no spans), exporting every
// span to a real Jaeger over OTLP/HTTP, and exporting one trace in ten
// (OTEL_TRACES_SAMPLER=parentbased_traceidratio, 0.1). Each catalog runs in
// its own pinned process, ghz on another core.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetItemRequest, ListItemsRequest, ListItemsResponse } from "../gen/mel/catalog/v1/catalog.js";
import { startJaeger } from "../test/support/jaeger.js";
import { freePort } from "../test/support/ports.js";
import { type CatalogProcess, callRaw, startCatalogProcess } from "./catalog-process.js";
import { cleanUp, describeMachine, formatNumber, printTable, ratio, readBenchSettings } from "./harness.js";
import { type Measurement, measureGrpc } from "./load-drivers.js";
import { corePlan, repositoryRoot } from "./processes.js";

const settings = readBenchSettings();
const cores = corePlan();
const dir = mkdtempSync(join(tmpdir(), "mel-bench-telemetry-"));
const cleanups: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];
const register = ["--import", join(repositoryRoot, "dist/platform/telemetry/register.js")];

try {
  const jaeger = await startJaeger();
  cleanups.push(() => jaeger.stop());
  const scenarios: Array<{ name: string; nodeOptions: string[]; env: NodeJS.ProcessEnv }> = [
    { name: "no telemetry (baseline)", nodeOptions: [], env: {} },
    { name: "telemetry, no endpoint (metrics only)", nodeOptions: register, env: { MEL_CATALOG_METRICS_PORT: String(await freePort()) } },
    {
      name: "every span to Jaeger",
      nodeOptions: register,
      env: { MEL_CATALOG_METRICS_PORT: String(await freePort()), OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpUrl },
    },
    {
      name: "1 trace in 10 to Jaeger",
      nodeOptions: register,
      env: {
        MEL_CATALOG_METRICS_PORT: String(await freePort()),
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpUrl,
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.1",
      },
    },
  ];
  console.log(`telemetry bench: catalog GetItem with ghz, ${describeMachine(settings)}, ${cores.description}`);
  console.log(
    `warm-up ${settings.warmupMs} ms, ${settings.durationMs} ms each, ${settings.rounds} round(s) alternating (median by CPU per call), ${settings.ratePerSecond ? `at most ${settings.ratePerSecond} calls/s` : "unlimited rate"}; catalog at its default log level`,
  );
  type Result = Measurement & { cpuPerCallUs: number };
  const rounds: Result[][] = scenarios.map(() => []);
  for (let round = 0; round < settings.rounds; round++)
    for (const [index, scenario] of scenarios.entries()) {
      const catalog: CatalogProcess = await startCatalogProcess(join(dir), cores.server, scenario.env, scenario.nodeOptions);
      try {
        const listed = ListItemsResponse.decode(
          await callRaw(
            catalog.address,
            "/mel.catalog.v1.CatalogService/ListItems",
            ListItemsRequest.encode(ListItemsRequest.fromPartial({ pageSize: 1 })).finish(),
          ),
        );
        const id = listed.items[0]?.id;
        if (id === undefined) throw new Error("the demo catalogue is empty: nothing to GetItem");
        const requestFile = join(dir, "get-item.bin");
        writeFileSync(requestFile, GetItemRequest.encode({ id }).finish());
        const measured = await measureGrpc(
          scenario.name,
          { call: "mel.catalog.v1.CatalogService.GetItem", protoset: join(repositoryRoot, "gen/descriptor.binpb"), requestFile, address: catalog.address },
          {
            concurrency: settings.concurrency,
            warmupMs: settings.warmupMs,
            durationMs: settings.durationMs,
            cores: cores.load,
            watch: [catalog.process],
            ratePerSecond: settings.ratePerSecond,
          },
        );
        if (measured.errors > 0) throw new Error(`${scenario.name}: ${measured.errors} calls failed`);
        rounds[index]?.push({ ...measured, cpuPerCallUs: ((measured.cpuSeconds[catalog.process.name] ?? 0) / measured.calls) * 1e6 });
      } finally {
        await catalog.process.stop();
        await catalog.forgetBrokerNames();
        rmSync(join(dir, "catalog.db"), { force: true });
      }
    }
  // Each scenario's median round by CPU per call.
  const results = rounds.map((measured) => [...measured].sort((a, b) => a.cpuPerCallUs - b.cpuPerCallUs)[Math.floor(measured.length / 2)] as Result);
  const [baseline] = results as [(typeof results)[number]];
  printTable(
    `GetItem at ${settings.concurrency} in flight (calls/s ratio: above 1 is faster; latency and CPU ratios: above 1 is slower or costlier)`,
    ["scenario", "calls", "calls/s", "p50 ms", "p99 ms", "server CPU µs/call", "calls/s vs base", "p99 vs base", "CPU/call vs base"],
    results.map((result) => [
      result.name,
      formatNumber(result.calls),
      formatNumber(result.perSecond),
      formatNumber(result.p50Ms, 2),
      formatNumber(result.p99Ms, 2),
      formatNumber(result.cpuPerCallUs),
      ratio(result.perSecond, baseline.perSecond),
      ratio(result.p99Ms, baseline.p99Ms),
      ratio(result.cpuPerCallUs, baseline.cpuPerCallUs),
    ]),
  );
} finally {
  await cleanUp(cleanups);
}
