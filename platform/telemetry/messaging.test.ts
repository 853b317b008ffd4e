// The spans of integration events on a real broker, recorded by an in-memory
// exporter: publishes continue the trace an event carries, deliveries sit
// under their publish, and a retried delivery links to the attempt that failed.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import pino from "pino";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { deferred, waitUntil } from "../../test/support/wait.js";
import { createEventBus, type EventBus } from "../events/index.js";

const exporter = new InMemorySpanExporter();
const prefix = uniqueName("telemetry");
const exchange = `${prefix}.events`;
const storedTrace = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" };
const traceparent = `00-${storedTrace.traceId}-${storedTrace.spanId}-01`;
let bus: EventBus;
let probe: BrokerProbe;

before(async () => {
  // What register.ts installs, with spans kept in memory instead of exported.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  await ensureRabbitMq();
  bus = await createEventBus({ url: rabbitMqUrl, logger: pino({ level: "silent" }), exchange, publishTimeoutMs: 2000 });
  probe = await BrokerProbe.open();
});

beforeEach(() => exporter.reset());

after(async () => {
  await bus?.close();
  await probe?.deleteByPrefix(prefix);
  await probe?.close();
});

const order = (orderId: string) => ({ orderId, buyerId: "buyer-1", checkoutRequestId: `req-${orderId}` });
const spansOf = (kind: SpanKind) => exporter.getFinishedSpans().filter((span) => span.kind === kind);

async function publishStored(orderId: string): Promise<void> {
  await bus.publishEncoded({ eventId: `evt-${orderId}`, type: "OrderStarted", body: OrderStarted.encode(order(orderId)).finish(), traceparent });
}

describe("messaging spans", () => {
  test("a publish of a stored event is a PRODUCER span in the event's trace, and the message carries that span", async () => {
    const queue = `${prefix}.tap`;
    await bus.declare({ queues: [{ name: queue }], bindings: [{ source: exchange, destination: queue, routingKey: "OrderStarted" }] });
    await publishStored("o-publish");
    await probe.waitForReady(queue, 1);
    const message = await probe.raw.get(queue, { noAck: true });
    const [publish] = spansOf(SpanKind.PRODUCER);
    assert.ok(publish && message);
    assert.equal(publish.name, `publish ${exchange}`);
    assert.equal(publish.spanContext().traceId, storedTrace.traceId);
    assert.equal(publish.parentSpanContext?.spanId, storedTrace.spanId);
    assert.deepEqual(
      [
        publish.attributes["messaging.system"],
        publish.attributes["messaging.operation.type"],
        publish.attributes["mel.event.type"],
        publish.attributes["messaging.message.id"],
      ],
      ["rabbitmq", "send", "OrderStarted", "evt-o-publish"],
    );
    assert.equal(String(message.properties.headers?.traceparent), `00-${storedTrace.traceId}-${publish.spanContext().spanId}-01`);
  });

  test("a delivery is handled in a CONSUMER span under its publish span", async () => {
    const queue = `${prefix}.handled`;
    const handled = deferred<string | undefined>();
    const subscription = await bus.subscribe({ queue, handlers: { OrderStarted: async () => handled.resolve(trace.getActiveSpan()?.spanContext().spanId) } });
    try {
      await publishStored("o-handled");
      const activeInHandler = await handled.promise;
      await waitUntil("the process span to end", () => spansOf(SpanKind.CONSUMER).length === 1);
      const [publish] = spansOf(SpanKind.PRODUCER);
      const [process] = spansOf(SpanKind.CONSUMER);
      assert.equal(process?.name, `process ${queue}`);
      assert.equal(process?.spanContext().spanId, activeInHandler);
      assert.equal(process?.parentSpanContext?.spanId, publish?.spanContext().spanId);
      assert.deepEqual([process?.attributes["messaging.operation.type"], process?.attributes["mel.event.outcome"]], ["process", "handled"]);
    } finally {
      await subscription.close();
    }
  });

  test("a retried delivery stays under the publish and links to the attempt that failed", async () => {
    const queue = `${prefix}.retried`;
    let attempts = 0;
    const subscription = await bus.subscribe({
      queue,
      retryDelaysMs: [50],
      handlers: {
        OrderStarted: async () => {
          attempts += 1;
          if (attempts === 1) throw new Error("catalog is away");
        },
      },
    });
    try {
      await publishStored("o-retried");
      await waitUntil("both attempts' spans to end", () => spansOf(SpanKind.CONSUMER).length === 2, 10_000);
      const [publish] = spansOf(SpanKind.PRODUCER);
      const [failed, retried] = spansOf(SpanKind.CONSUMER) as [ReadableSpan, ReadableSpan];
      assert.deepEqual([failed.attributes["mel.event.outcome"], retried.attributes["mel.event.outcome"]], ["retried", "handled"]);
      assert.deepEqual([failed.attributes["mel.event.attempt"], retried.attributes["mel.event.attempt"]], [1, 2]);
      assert.equal(retried.parentSpanContext?.spanId, publish?.spanContext().spanId);
      assert.deepEqual(
        retried.links.map((link) => link.context.spanId),
        [failed.spanContext().spanId],
      );
      assert.equal(failed.status.message, "catalog is away");
    } finally {
      await subscription.close();
    }
  });
});
