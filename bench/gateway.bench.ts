// What the gateway costs per call: GetItem straight to catalog over gRPC (the
// baseline), then the same call through the gateway as HTTP/JSON and as binary
// gRPC-Web. Catalog runs on SQLite with the demo catalogue; client, gateway and
// catalog share this process, so every figure is CPU spent per call on one
// event loop, which is what the ratios compare.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { loadGatewayConfig } from "../gateway/config.js";
import { startGatewayFromDescriptors } from "../gateway/main.js";
import { CatalogServiceClient, GetItemRequest, GetItemResponse, ItemSort } from "../gen/mel/catalog/v1/catalog.js";
import { callUnary } from "../platform/grpc/index.js";
import { createLogger } from "../platform/log/index.js";
import { createTestTokens, testCatalogConfig } from "../services/catalog/catalog.test-support.js";
import { startCatalog } from "../services/catalog/main.js";
import { BrokerProbe, ensureRabbitMq } from "../test/support/rabbitmq.js";
import { cleanUp, describeMachine, formatNumber, type LoadResult, measureAtConcurrency, printTable, ratio, readBenchSettings } from "./harness.js";

const settings = readBenchSettings();
const quiet = createLogger({ service: "bench", level: "silent" });
const deadlineMs = 5000;

await ensureRabbitMq();
const dir = mkdtempSync(join(tmpdir(), "mel-bench-gateway-"));
const catalogConfig = testCatalogConfig(`sqlite:${join(dir, "catalog.db")}`, { seedDemoData: true });
const cleanups: Array<() => Promise<void>> = [
  async () => rmSync(dir, { recursive: true, force: true }),
  async () => {
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(catalogConfig.exchange.replace(/\.events$/, ""));
    await probe.close();
  },
];

try {
  // GetItem is public; the test key only keeps catalog from looking for identity.
  const catalog = await startCatalog({ config: catalogConfig, logger: quiet, authenticate: (await createTestTokens()).authenticate });
  cleanups.push(() => catalog.stop());
  const catalogAddress = `127.0.0.1:${catalog.port}`;
  const client = new CatalogServiceClient(catalogAddress, credentials.createInsecure());
  cleanups.push(async () => client.close());
  const gateway = await startGatewayFromDescriptors(
    { ...loadGatewayConfig({}), logLevel: "silent", host: "127.0.0.1", port: 0, upstreams: { "mel.catalog.v1.CatalogService": catalogAddress } },
    quiet,
  );
  cleanups.push(() => gateway.close());

  const listed = await callUnary(client, "listItems", {
    pageSize: 1,
    pageToken: "",
    pageNumber: 0,
    brandId: "",
    typeId: "",
    query: "",
    sort: ItemSort.ITEM_SORT_UNSPECIFIED,
  });
  const id = listed.items[0]?.id;
  if (id === undefined) throw new Error("the demo catalogue is empty: nothing to GetItem");

  const directGrpc = async () => {
    const { item } = await callUnary(client, "getItem", { id }, { deadline: new Date(Date.now() + deadlineMs) });
    if (item?.id !== id) throw new Error(`direct GetItem answered item ${item?.id}, expected ${id}`);
  };

  const jsonUrl = `${gateway.url}/api/v1/catalog/items/${encodeURIComponent(id)}`;
  const httpJson = async () => {
    const response = await fetch(jsonUrl);
    const body = (await response.json()) as { item?: { id?: string } };
    if (response.status !== 200 || body.item?.id !== id) throw new Error(`GET ${jsonUrl} answered ${response.status}: ${JSON.stringify(body)}`);
  };

  const grpcWebUrl = `${gateway.url}/mel.catalog.v1.CatalogService/GetItem`;
  const grpcWebRequest = frame(GetItemRequest.encode({ id }).finish());
  const grpcWeb = async () => {
    const response = await fetch(grpcWebUrl, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "grpc-timeout": `${deadlineMs}m` },
      body: grpcWebRequest,
    });
    const { item } = GetItemResponse.decode(readUnaryGrpcWebResponse(response.status, response.headers, new Uint8Array(await response.arrayBuffer())));
    if (item?.id !== id) throw new Error(`gRPC-Web GetItem answered item ${item?.id}, expected ${id}`);
  };

  console.log(`gateway bench: GetItem, ${describeMachine(settings)}, warm-up ${settings.warmupMs} ms, ${settings.durationMs} ms each`);
  const results: LoadResult[] = [];
  results.push(await measureAtConcurrency("direct gRPC (baseline)", directGrpc, settings));
  results.push(await measureAtConcurrency("gateway HTTP/JSON", httpJson, settings));
  results.push(await measureAtConcurrency("gateway gRPC-Web binary", grpcWeb, settings));

  const [baseline] = results as [LoadResult];
  printTable(
    `GetItem at ${settings.concurrency} in flight (ops/s ratio: above 1 is faster than baseline; latency ratio: above 1 is slower)`,
    ["scenario", "calls", "ops/s", "p50 ms", "p99 ms", "ops/s vs base", "p50 vs base", "p99 vs base"],
    results.map((result) => [
      result.name,
      formatNumber(result.ops),
      formatNumber(result.opsPerSecond),
      formatNumber(result.p50Ms, 2),
      formatNumber(result.p99Ms, 2),
      ratio(result.opsPerSecond, baseline.opsPerSecond),
      ratio(result.p50Ms, baseline.p50Ms),
      ratio(result.p99Ms, baseline.p99Ms),
    ]),
  );
} finally {
  await cleanUp(cleanups);
}

// gRPC-Web framing (PROTOCOL-WEB.md): a flag byte (0 data, 0x80 trailers), a
// 4-byte big-endian length, the payload. Built here rather than with a client
// library so the client side costs the same as the JSON scenario's fetch.
function frame(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

/** The one message of a unary gRPC-Web response; throws on any status but OK. */
function readUnaryGrpcWebResponse(httpStatus: number, headers: Headers, body: Uint8Array): Uint8Array {
  // A trailers-only response (an error before any message) carries its status in the headers.
  let grpcStatus = headers.get("grpc-status");
  let grpcMessage = headers.get("grpc-message");
  let message: Uint8Array | undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let offset = 0; offset + 5 <= body.length; ) {
    const flag = body[offset]!;
    const length = view.getUint32(offset + 1);
    const payload = body.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    if ((flag & 0x80) === 0) {
      message = payload;
      continue;
    }
    for (const line of new TextDecoder().decode(payload).split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === "grpc-status") grpcStatus = line.slice(colon + 1).trim();
      if (name === "grpc-message") grpcMessage = line.slice(colon + 1).trim();
    }
  }
  if (httpStatus !== 200 || grpcStatus !== "0" || message === undefined) {
    throw new Error(`gRPC-Web GetItem failed: HTTP ${httpStatus}, grpc-status ${grpcStatus}, ${grpcMessage ?? "no message frame"}`);
  }
  return message;
}
