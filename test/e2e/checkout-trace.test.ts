// One purchase is one trace: the mesh runs as `npm start` runs it (a process
// per part, telemetry loaded by node --import) exporting to a real Jaeger,
// and the test buys through the gateway's HTTP/JSON API with a traceparent
// of its own, then reads that trace back from Jaeger's query API.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type StorefrontMesh, startStorefrontMesh } from "../../web/testing/storefront-mesh.js";
import { type JaegerSpan, type RunningJaeger, startJaeger, traceSpans } from "../support/jaeger.js";
import { waitUntil } from "../support/wait.js";
import { buyThroughGateway } from "./gateway-purchase.js";

let jaeger: RunningJaeger;
let mesh: StorefrontMesh;
const traceId = randomBytes(16).toString("hex");
let spans: JaegerSpan[] = [];

const byKind = (kind: string) => spans.filter((span) => span.tags["span.kind"] === kind);
const parentOf = (span: JaegerSpan) => spans.find((candidate) => candidate.spanId === span.parentSpanId);
const withEvent = (kind: "producer" | "consumer", type: string) => byKind(kind).filter((span) => span.tags["mel.event.type"] === type);

before(async () => {
  jaeger = await startJaeger();
  mesh = await startStorefrontMesh({
    storefront: false,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpUrl,
      // Spans leave every 100 ms instead of every 5 s.
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
  });
  try {
    await purchase();
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- mesh log ---\n${mesh.logTail()}`, { cause: error });
  }
});

/** Spans whose parent is not in the trace: only the gateway's server span, whose parent is the client's, should be one. */
function orphansOf(trace: typeof spans) {
  const ids = new Set(trace.map((span) => span.spanId));
  return trace.filter((span) => span.parentSpanId === undefined || !ids.has(span.parentSpanId));
}

/**
 * Buys one item through the gateway, the checkout under the test's
 * traceparent, and waits for the whole trace in Jaeger: the payment's events,
 * and the parent of every span. Each process exports its spans in its own
 * batches, so a child can reach Jaeger before the parent that ended after it.
 */
async function purchase(): Promise<void> {
  // The client's own span: everything the checkout causes must land under it.
  await buyThroughGateway(mesh.url, `00-${traceId}-${randomBytes(8).toString("hex")}-01`);
  await waitUntil(
    "Jaeger to hold the payment's events of the trace and the parent of every span",
    async () => {
      spans = await traceSpans(jaeger, traceId);
      const paid = withEvent("consumer", "OrderStatusChangedToPaid").length > 0 && withEvent("producer", "OrderPaymentSucceeded").length > 0;
      return paid && orphansOf(spans).length === 1;
    },
    30_000,
    200,
  ).catch((error: unknown) => {
    const orphans = orphansOf(spans).map((span) => `${span.service} ${span.tags["span.kind"]} ${span.operationName}`);
    throw new Error(`${String(error)}; spans without their parent: ${orphans.join(", ")}`);
  });
}

after(async () => {
  await mesh?.stop();
  await jaeger?.stop();
});

describe("a purchase's trace in Jaeger", () => {
  it("has spans from the gateway, basket, ordering and catalog", () => {
    const services = new Set(spans.map((span) => span.service));
    for (const service of ["gateway", "basket", "ordering", "catalog"])
      assert.ok(services.has(service), `no span from ${service}: ${[...services].join(", ")}`);
  });

  it("parents every span to a span of the same trace, but the gateway's to the client's", () => {
    assert.deepEqual(
      orphansOf(spans).map((span) => [span.service, span.tags["span.kind"]]),
      [["gateway", "server"]],
    );
  });

  it("goes gateway HTTP server → gateway gRPC client → basket gRPC server for the checkout", () => {
    const basketServer = spans.find((span) => span.service === "basket" && span.tags["span.kind"] === "server" && span.tags["rpc.method"] === "Checkout");
    assert.ok(basketServer, "no Checkout server span in basket");
    assert.equal(basketServer.tags["rpc.system"], "grpc");
    assert.equal(basketServer.tags["rpc.service"], "mel.basket.v1.BasketService");
    const gatewayClient = parentOf(basketServer);
    assert.equal(gatewayClient?.service, "gateway");
    assert.equal(gatewayClient?.tags["span.kind"], "client");
    assert.equal(gatewayClient?.tags["rpc.method"], "Checkout");
    // Fastify's own spans may sit between the request's span and the upstream call.
    const ancestors: JaegerSpan[] = [];
    for (let span = gatewayClient && parentOf(gatewayClient); span; span = parentOf(span)) ancestors.push(span);
    const request = ancestors.find((span) => span.tags["span.kind"] === "server");
    assert.equal(request?.service, "gateway");
    assert.equal(request?.tags["http.request.method"] ?? request?.tags["http.method"], "POST");
  });

  it("publishes UserCheckoutAccepted from basket's Checkout span", () => {
    const [publish] = withEvent("producer", "UserCheckoutAccepted");
    assert.equal(publish?.service, "basket");
    assert.equal(publish ? parentOf(publish)?.tags["rpc.method"] : undefined, "Checkout");
  });

  it("publishes UserCheckoutAccepted from basket and processes it in ordering under that publish", () => {
    const [publish] = withEvent("producer", "UserCheckoutAccepted");
    assert.equal(publish?.service, "basket");
    assert.equal(publish?.tags["messaging.system"], "rabbitmq");
    assert.equal(publish?.tags["messaging.operation.type"], "send");
    assert.match(String(publish?.tags["messaging.destination.name"]), /\.events$/);
    assert.equal(publish?.tags["messaging.rabbitmq.destination.routing_key"], "UserCheckoutAccepted");
    const [process] = withEvent("consumer", "UserCheckoutAccepted");
    assert.equal(process?.service, "ordering");
    assert.equal(process?.tags["messaging.operation.type"], "process");
    assert.equal(process?.tags["messaging.message.id"], publish?.tags["messaging.message.id"]);
    assert.equal(process?.parentSpanId, publish?.spanId);
  });

  it("reserves stock in catalog under ordering's OrderStatusChangedToAwaitingValidation", () => {
    const [process] = withEvent("consumer", "OrderStatusChangedToAwaitingValidation");
    assert.equal(process?.service, "catalog");
    assert.equal(process ? parentOf(process)?.service : undefined, "ordering");
    const [confirmed] = withEvent("producer", "OrderStockConfirmed");
    assert.equal(confirmed?.service, "catalog");
  });

  it("runs the payment step in ordering and publishes its outcome from it", () => {
    const step = spans.find((span) => span.operationName === "ordering authorize-payment");
    assert.equal(step?.service, "ordering");
    const [paid] = withEvent("producer", "OrderPaymentSucceeded");
    assert.equal(paid?.parentSpanId, step?.spanId);
  });
});
