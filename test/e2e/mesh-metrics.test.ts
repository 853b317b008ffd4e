// What Prometheus sees of a purchase: the mesh as `npm start` runs it, each
// part serving /metrics on its own port, scraped every second by a real
// Prometheus, and PromQL over the numbers the test's one purchase caused.
// Every endpoint also passes `promtool check metrics`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type StorefrontMesh, startStorefrontMesh } from "../../web/testing/storefront-mesh.js";
import { freePort } from "../support/ports.js";
import { promtoolCheckMetrics, type RunningPrometheus, startPrometheus } from "../support/prometheus.js";
import { waitUntil } from "../support/wait.js";
import { buyThroughGateway } from "./gateway-purchase.js";

const parts = ["gateway", "identity", "catalog", "basket", "ordering"] as const;
const metricsPorts: Record<string, number> = {};
let mesh: StorefrontMesh;
let prometheus: RunningPrometheus;

before(async () => {
  for (const part of parts) metricsPorts[part] = await freePort();
  mesh = await startStorefrontMesh({
    storefront: false,
    env: Object.fromEntries(parts.map((part) => [`MEL_${part.toUpperCase()}_METRICS_PORT`, String(metricsPorts[part])])),
  });
  prometheus = await startPrometheus(Object.fromEntries(parts.map((part) => [part, `127.0.0.1:${metricsPorts[part]}`])));
  await buyThroughGateway(mesh.url);
});

after(async () => {
  await prometheus?.stop();
  await mesh?.stop();
});

/** Waits until `promql` yields `expected` (scrapes come every second), and fails with the last value seen. */
async function expectValue(promql: string, expected: number | ((value: number) => boolean)): Promise<void> {
  let last: number | undefined;
  const matches = (value: number | undefined) => value !== undefined && (typeof expected === "number" ? value === expected : expected(value));
  await waitUntil(
    `${promql} to be ${typeof expected === "number" ? expected : expected.toString()}`,
    async () => {
      last = await prometheus.queryValue(promql);
      return matches(last);
    },
    20_000,
    250,
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)} (last value: ${last})`);
  });
}

describe("the mesh's metrics in Prometheus", () => {
  it("counts the one Checkout basket served, with status OK", async () => {
    await expectValue(
      'sum(rpc_server_call_duration_count{job="basket", rpc_service="mel.basket.v1.BasketService", rpc_method="Checkout", rpc_grpc_status_code="0"})',
      1,
    );
  });

  it("counts the gateway's one Checkout call to basket as a client call", async () => {
    await expectValue('sum(rpc_client_call_duration_count{job="gateway", rpc_method="Checkout", rpc_grpc_status_code="0"})', 1);
  });

  it("counts the gateway's HTTP requests by route and status", async () => {
    await expectValue(
      'sum(http_server_request_duration_count{job="gateway", http_route="/api/v1/basket/checkout", http_request_method="POST", http_response_status_code="200"})',
      1,
    );
  });

  it("counts UserCheckoutAccepted confirmed by the broker once and handled by ordering once", async () => {
    await expectValue('sum(mel_events_published_total{job="basket", mel_event_type="UserCheckoutAccepted", outcome="confirmed"})', 1);
    await expectValue('sum(mel_events_consumed_total{job="ordering", mel_event_type="UserCheckoutAccepted", outcome="handled"})', 1);
    await expectValue('sum(messaging_process_duration_count{job="ordering", mel_event_type="UserCheckoutAccepted"})', 1);
  });

  it("shows catalog's outbox drained once its OrderStockConfirmed is published, and its DLQ empty", async () => {
    await expectValue('sum(mel_events_published_total{job="catalog", mel_event_type="OrderStockConfirmed", outcome="confirmed"})', 1);
    await expectValue('max(mel_outbox_backlog{job="catalog"})', 0);
    await expectValue('max(mel_outbox_lag{job="catalog"})', 0);
    await expectValue('sum(mel_events_dlq_depth{job="catalog"})', 0);
  });

  it("shows every circuit the gateway holds closed", async () => {
    await expectValue('max(mel_circuit_breaker_state{job="gateway"})', 0);
    await expectValue('count(mel_circuit_breaker_state{job="gateway"})', 4);
  });

  it("has the Node.js runtime metrics of every part", async () => {
    await expectValue("count(count by (job) (nodejs_eventloop_delay_p99))", parts.length);
  });

  it("serves expositions promtool accepts on every port", async () => {
    for (const part of parts) {
      const exposition = await (await fetch(`http://127.0.0.1:${metricsPorts[part]}/metrics`)).text();
      assert.deepEqual(await promtoolCheckMetrics(exposition), [], `${part}'s /metrics`);
    }
  });
});
