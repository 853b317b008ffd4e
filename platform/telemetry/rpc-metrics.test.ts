// The RPC metrics come from platform/grpc itself, not from spans: with a meter
// provider and no tracer provider at all (a process exporting no traces), a
// served and a made call each land in their histogram with the method and the
// status code, and a call to an upstream that is down counts once as made.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { metrics, trace } from "@opentelemetry/api";
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { CatalogServiceClient, GetItemResponse } from "../../gen/mel/catalog/v1/catalog.js";
import { NotFoundError } from "../errors/index.js";
import { callUnary, createClient } from "../grpc/client.js";
import { captureLog, item, startCatalogServer, type TestCatalogServer } from "../grpc/grpc.test-support.js";
import { recordHttpServerRequest } from "./rpc-metrics.js";

/** A reader the test collects from when it wants. */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const reader = new CollectingReader();
const provider = new MeterProvider({ readers: [reader] });
let server: TestCatalogServer;

before(async () => {
  metrics.setGlobalMeterProvider(provider);
  server = await startCatalogServer({
    async getItem(request) {
      if (request.id === "missing") throw new NotFoundError("item missing does not exist");
      return GetItemResponse.fromPartial({ item: item(request.id) });
    },
  });
});

after(async () => {
  await server.stop();
  await provider.shutdown();
  metrics.disable();
});

/** Count of each data point of histogram `name`, keyed by its attributes. */
async function histogramCounts(name: string): Promise<Map<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const counts = new Map<string, number>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints as DataPoint<Histogram>[]) {
        const key = Object.entries(point.attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .sort()
          .join(",");
        counts.set(key, (counts.get(key) ?? 0) + point.value.count);
      }
    }
  }
  return counts;
}

test("served and made calls are measured by method and status, with no tracer provider", async () => {
  assert.equal(trace.getTracerProvider().getTracer("probe").startSpan("x").isRecording(), false, "no spans are being made");
  const { client } = createClient(CatalogServiceClient, { upstream: "catalog", target: server.address, logger: captureLog("client").logger });
  try {
    await callUnary(client, "getItem", { id: "a" });
    await callUnary(client, "getItem", { id: "b" });
    await assert.rejects(callUnary(client, "getItem", { id: "missing" }), (error: ServiceError) => error.code === GrpcStatus.NOT_FOUND);
  } finally {
    client.close();
  }
  const getItem = (code: number) => `rpc.grpc.status_code=${code},rpc.method=GetItem,rpc.service=mel.catalog.v1.CatalogService,rpc.system=grpc`;
  const served = await histogramCounts("rpc.server.call.duration");
  assert.equal(served.get(getItem(GrpcStatus.OK)), 2);
  assert.equal(served.get(getItem(GrpcStatus.NOT_FOUND)), 1);
  const made = await histogramCounts("rpc.client.call.duration");
  assert.equal(made.get(getItem(GrpcStatus.OK)), 2);
  assert.equal(made.get(getItem(GrpcStatus.NOT_FOUND)), 1);
});

test("a call to an upstream that is down is measured once as made, retries included, with its status", async () => {
  const { client } = createClient(CatalogServiceClient, {
    upstream: "catalog",
    target: "127.0.0.1:1",
    logger: captureLog("client").logger,
    retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 2 },
  });
  try {
    await assert.rejects(callUnary(client, "getItem", { id: "a" }), (error: ServiceError) => error.code === GrpcStatus.UNAVAILABLE);
  } finally {
    client.close();
  }
  const made = await histogramCounts("rpc.client.call.duration");
  assert.equal(made.get(`rpc.grpc.status_code=${GrpcStatus.UNAVAILABLE},rpc.method=GetItem,rpc.service=mel.catalog.v1.CatalogService,rpc.system=grpc`), 1);
});

test("HTTP requests are measured by method, route and status", async () => {
  recordHttpServerRequest("GET", "/api/v1/catalog/items/{id}", 200, 0.004);
  recordHttpServerRequest("GET", undefined, 404, 0.001);
  const counts = await histogramCounts("http.server.request.duration");
  assert.equal(counts.get("http.request.method=GET,http.response.status_code=200,http.route=/api/v1/catalog/items/{id},url.scheme=http"), 1);
  assert.equal(counts.get("http.request.method=GET,http.response.status_code=404,url.scheme=http"), 1);
});
