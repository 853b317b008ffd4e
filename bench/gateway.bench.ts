// What the gateway costs per call, against grpc-gateway (Go, built from the
// same proto/) in front of the same catalog: wrk drives HTTP/JSON GET
// /api/v1/catalog/items/{id} through each gateway, and binary gRPC-Web
// through Mel's (grpc-gateway has no gRPC-Web); ghz drives the same GetItem
// straight to catalog for the cost of the hop itself. Every response is
// checked. The gateway under test runs on its own core; catalog, the load
// generator and the idle gateway share the other.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetItemRequest, ListItemsRequest, ListItemsResponse } from "../gen/mel/catalog/v1/catalog.js";
import { freePort } from "../test/support/ports.js";
import { callRaw, startCatalogProcess } from "./catalog-process.js";
import { cleanUp, describeMachine, formatNumber, printTable, ratio, readBenchSettings } from "./harness.js";
import { type Measurement, measureGrpc, measureHttp } from "./load-drivers.js";
import { type BenchProcess, builtEntry, corePlan, repin, repositoryRoot, startProcess } from "./processes.js";
import { grpcGatewayBinary } from "./tools.js";

const settings = readBenchSettings();
const cores = corePlan();
const dir = mkdtempSync(join(tmpdir(), "mel-bench-gateway-"));
const cleanups: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];

try {
  const referenceBinary = grpcGatewayBinary();
  const catalog = await startCatalogProcess(dir, cores.upstream);
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
  const requestFile = join(dir, "get-item.bin");
  writeFileSync(requestFile, request);

  const melPort = await freePort();
  const melEntry = builtEntry("gateway/main.ts");
  const mel = await startProcess({
    name: "Mel gateway",
    ...melEntry,
    cores: cores.server,
    port: melPort,
    logFile: join(dir, "gateway.log"),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      MEL_GATEWAY_HOST: "127.0.0.1",
      MEL_GATEWAY_PORT: String(melPort),
      MEL_CATALOG_ADDRESS: catalog.address,
    },
  });
  cleanups.push(() => mel.stop());

  const referencePort = await freePort();
  const reference = await startProcess({
    name: "grpc-gateway",
    command: referenceBinary,
    args: ["-listen", `127.0.0.1:${referencePort}`, "-catalog", catalog.address],
    cores: cores.upstream,
    port: referencePort,
    logFile: join(dir, "grpc-gateway.log"),
  });
  cleanups.push(() => reference.stop());

  console.log(`gateway bench: GetItem, ${describeMachine(settings)}, ${cores.description}`);
  console.log(`warm-up ${settings.warmupMs} ms, ${settings.durationMs} ms each; wrk for HTTP, ghz for gRPC; services at their default log level`);
  const shape = { concurrency: settings.concurrency, warmupMs: settings.warmupMs, durationMs: settings.durationMs, cores: cores.load };
  const jsonPath = `/api/v1/catalog/items/${encodeURIComponent(id)}`;
  const rows: Array<{ result: Measurement; gateway: BenchProcess | undefined }> = [];
  const measure = async (result: Promise<Measurement>, gateway: BenchProcess | undefined) => {
    const measured = await result;
    if (measured.errors > 0) throw new Error(`${measured.name}: ${measured.errors} calls failed`);
    rows.push({ result: measured, gateway });
  };

  // Whichever gateway is measured gets the server core; the other waits on the shared one.
  repin(reference, cores.server);
  repin(mel, cores.upstream);
  await measure(
    measureHttp(
      "grpc-gateway HTTP/JSON (baseline)",
      { url: `http://127.0.0.1:${referencePort}${jsonPath}`, mustContain: [id] },
      { ...shape, watch: [reference, catalog.process] },
      dir,
    ),
    reference,
  );
  repin(reference, cores.upstream);
  repin(mel, cores.server);
  await measure(
    measureHttp(
      "Mel gateway HTTP/JSON",
      { url: `http://127.0.0.1:${melPort}${jsonPath}`, mustContain: [id] },
      { ...shape, watch: [mel, catalog.process] },
      dir,
    ),
    mel,
  );
  await measure(
    measureHttp(
      "Mel gateway gRPC-Web binary",
      {
        url: `http://127.0.0.1:${melPort}/mel.catalog.v1.CatalogService/GetItem`,
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "grpc-timeout": "5000m" },
        body: frame(request),
        mustContain: [id, "grpc-status: 0\r\n"],
      },
      { ...shape, watch: [mel, catalog.process] },
      dir,
    ),
    mel,
  );
  // Straight to catalog: the upstream alone, on the server core for this one.
  repin(catalog.process, cores.server);
  repin(mel, cores.upstream);
  await measure(
    measureGrpc(
      "direct gRPC to catalog",
      { address: catalog.address, call: "mel.catalog.v1.CatalogService.GetItem", protoset: join(repositoryRoot, "gen/descriptor.binpb"), requestFile },
      { ...shape, watch: [catalog.process] },
    ),
    undefined,
  );

  const [baseline] = rows as [(typeof rows)[number]];
  const perCallUs = (result: Measurement, name: string | undefined) =>
    name === undefined ? Number.NaN : ((result.cpuSeconds[name] ?? 0) / result.calls) * 1e6;
  const baseGatewayCpu = perCallUs(baseline.result, baseline.gateway?.name);
  printTable(
    `GetItem at ${settings.concurrency} in flight (req/s ratio: above 1 is faster; latency and CPU ratios: above 1 is slower or costlier)`,
    ["scenario", "requests", "req/s", "p50 ms", "p99 ms", "gateway CPU µs/req", "catalog CPU µs/req", "req/s vs base", "p99 vs base", "gateway CPU vs base"],
    rows.map(({ result, gateway }) => {
      const gatewayCpu = perCallUs(result, gateway?.name);
      return [
        result.name,
        formatNumber(result.calls),
        formatNumber(result.perSecond),
        formatNumber(result.p50Ms, 2),
        formatNumber(result.p99Ms, 2),
        gateway ? formatNumber(gatewayCpu) : "-",
        formatNumber(perCallUs(result, "catalog")),
        ratio(result.perSecond, baseline.result.perSecond),
        ratio(result.p99Ms, baseline.result.p99Ms),
        gateway ? ratio(gatewayCpu, baseGatewayCpu) : "-",
      ];
    }),
  );
} finally {
  await cleanUp(cleanups);
}

// gRPC-Web framing (PROTOCOL-WEB.md): a flag byte (0 data, 0x80 trailers), a
// 4-byte big-endian length, the payload.
function frame(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}
