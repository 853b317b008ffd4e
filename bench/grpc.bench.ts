// What catalog costs per GetItem next to what grpc-js alone costs: ghz drives
// a bare @grpc/grpc-js server answering the very bytes catalog answers (the
// baseline), then catalog itself (SQLite, demo catalogue, default log level),
// each server in its own process on its own core, ghz on another.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetItemRequest, GetItemResponse, ListItemsRequest, ListItemsResponse } from "../gen/mel/catalog/v1/catalog.js";
import { freePort } from "../test/support/ports.js";
import { callRaw, getItemPath, startCatalogProcess } from "./catalog-process.js";
import { cleanUp, describeMachine, formatNumber, printTable, ratio, readBenchSettings } from "./harness.js";
import { type Measurement, measureGrpc } from "./load-drivers.js";
import { corePlan, nodeEntry, repositoryRoot, startProcess } from "./processes.js";

const settings = readBenchSettings();
const cores = corePlan();
const dir = mkdtempSync(join(tmpdir(), "mel-bench-grpc-"));
const cleanups: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];

try {
  const catalog = await startCatalogProcess(dir, cores.server);
  cleanups.push(
    () => catalog.forgetBrokerNames(),
    () => catalog.process.stop(),
  );
  const listed = ListItemsResponse.decode(
    await callRaw(catalog.address, "/mel.catalog.v1.CatalogService/ListItems", ListItemsRequest.encode(ListItemsRequest.fromPartial({ pageSize: 1 })).finish()),
  );
  const id = listed.items[0]?.id;
  if (id === undefined) throw new Error("the demo catalogue is empty: nothing to GetItem");
  const request = GetItemRequest.encode({ id }).finish();
  const response = await callRaw(catalog.address, getItemPath, request);
  if (GetItemResponse.decode(response).item?.id !== id) throw new Error(`GetItem ${id} answered another item`);
  const requestFile = join(dir, "get-item.bin");
  const responseFile = join(dir, "get-item-response.bin");
  writeFileSync(requestFile, request);
  writeFileSync(responseFile, response);

  const barePort = await freePort();
  const bareEntry = nodeEntry("bench/bare-grpc-server.ts");
  const bare = await startProcess({
    name: "bare grpc-js",
    command: bareEntry.command,
    args: [...bareEntry.args, String(barePort), getItemPath, responseFile],
    cores: cores.server,
    port: barePort,
    logFile: join(dir, "bare.log"),
  });
  cleanups.push(() => bare.stop());

  console.log(`grpc bench: GetItem (${response.length}-byte response) with ghz, ${describeMachine(settings)}, ${cores.description}`);
  console.log(`warm-up ${settings.warmupMs} ms, ${settings.durationMs} ms each; catalog at its default log level`);
  const protoset = join(repositoryRoot, "gen/descriptor.binpb");
  const shape = {
    concurrency: settings.concurrency,
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    cores: cores.load,
    ratePerSecond: settings.ratePerSecond,
  };
  const target = { call: "mel.catalog.v1.CatalogService.GetItem", protoset, requestFile };
  const results: Array<Measurement & { cpuPerCallUs: number }> = [];
  for (const [name, address, server] of [
    ["bare grpc-js, same bytes (baseline)", `127.0.0.1:${barePort}`, bare],
    ["catalog GetItem", catalog.address, catalog.process],
  ] as const) {
    const measured = await measureGrpc(name, { ...target, address }, { ...shape, watch: [server] });
    if (measured.errors > 0) throw new Error(`${name}: ${measured.errors} calls failed`);
    results.push({ ...measured, cpuPerCallUs: ((measured.cpuSeconds[server.name] ?? 0) / measured.calls) * 1e6 });
  }
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
