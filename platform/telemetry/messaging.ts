// Spans and metrics of integration events, written by hand: the amqplib
// instrumentation would parent a publish to whatever is active when the
// outbox relay happens to run, whereas an outbox row must publish in the
// trace of the transaction that wrote it (its stored traceparent), and its
// consumer spans know nothing of Mel's retry queues and DLQ. Names and
// attributes follow the OTel messaging conventions ("publish <exchange>",
// "process <queue>", messaging.*), plus mel.event.type and mel.event.attempt.
import {
  type Attributes,
  type Counter,
  context,
  type Histogram,
  type Link,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { contextOf, spanContextOf } from "./trace-context.js";

/** Header naming the process span of the attempt that failed, so the retry or replay links back to it. */
export const failedAttemptHeader = "x-mel-failed-traceparent";

export interface PublishedMessage {
  exchange: string;
  routingKey: string;
  eventType: string;
  eventId: string;
  correlationId?: string | undefined;
  /** The trace the event belongs to (an outbox row's); else the active span is the parent. */
  traceparent?: string | undefined;
  bodySize: number;
}

/** How a delivery ended, counted in mel.events.consumed by outcome. */
export type DeliveryOutcome = "handled" | "retried" | "dead_lettered" | "dropped" | "requeued";

export interface Delivery {
  queue: string;
  exchange: string;
  routingKey: string;
  eventType: string;
  eventId: string;
  attempt: number;
  correlationId: string | undefined;
  headers: Record<string, unknown>;
  bodySize: number;
}

const tracer = () => trace.getTracer("mel.events");
// Seconds, from a handler that only writes its inbox row to one waiting on a slow upstream.
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Instruments {
  published: Counter;
  publishDuration: Histogram;
  consumed: Counter;
  processDuration: Histogram;
}
let instruments: Instruments | undefined;
// Made on first use, after register.ts installed the meter provider (the API hands out no-op meters before).
function meters(): Instruments {
  if (instruments) return instruments;
  const meter = metrics.getMeter("mel.events");
  const advice = { explicitBucketBoundaries: durationBuckets };
  instruments = {
    published: meter.createCounter("mel.events.published", {
      description: "Events published, by outcome: confirmed or the PublishError reason (returned, nacked, timeout…)",
    }),
    publishDuration: meter.createHistogram("messaging.client.operation.duration", { unit: "s", description: "Publish until the broker's confirm", advice }),
    consumed: meter.createCounter("mel.events.consumed", {
      description: "Deliveries taken from a queue, by outcome: handled, retried, dead_lettered, dropped, requeued",
    }),
    processDuration: meter.createHistogram("messaging.process.duration", { unit: "s", description: "Handling of one delivery, settling included", advice }),
  };
  return instruments;
}

/**
 * Runs `publish` in a PRODUCER span and hands it the headers that carry the
 * span on (traceparent, tracestate). The parent is the event's stored trace
 * when it has one, else the active span. Counts the outcome: confirmed, or
 * the failure's `reason` (a PublishError's: unroutable, nacked, timeout…).
 */
export async function tracePublish<T>(message: PublishedMessage, publish: (traceHeaders: Record<string, string>) => Promise<T>): Promise<T> {
  const parent = message.traceparent && spanContextOf(message.traceparent) ? contextOf(message.traceparent) : context.active();
  const attributes: Attributes = {
    "messaging.system": "rabbitmq",
    "messaging.operation.type": "send",
    "messaging.operation.name": "publish",
    "messaging.destination.name": message.exchange,
    "messaging.rabbitmq.destination.routing_key": message.routingKey,
    "messaging.message.id": message.eventId,
    "messaging.message.body.size": message.bodySize,
    "mel.event.type": message.eventType,
    ...(message.correlationId ? { "messaging.message.conversation_id": message.correlationId } : {}),
  };
  const span = tracer().startSpan(`publish ${message.exchange || "(default)"}`, { kind: SpanKind.PRODUCER, attributes }, parent);
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), headers);
  const started = performance.now();
  let outcome = "confirmed";
  try {
    return await publish(headers);
  } catch (error) {
    outcome = reasonOf(error);
    failSpan(span, error, outcome);
    throw error;
  } finally {
    span.end();
    const labels = { "mel.event.type": message.eventType, "messaging.destination.name": message.exchange, outcome };
    meters().published.add(1, labels);
    meters().publishDuration.record((performance.now() - started) / 1000, { ...labels, "messaging.operation.name": "publish" });
  }
}

const outcomes = new WeakMap<Span, DeliveryOutcome>();

/**
 * Runs the handling of one delivery in a CONSUMER span whose parent is the
 * publish span named by the message's headers; a retried or replayed
 * delivery also links to the span of the attempt that failed. Counts the
 * delivery by the outcome `work` reported with markDeliveryOutcome.
 */
export async function traceDelivery(delivery: Delivery, work: () => Promise<void>): Promise<void> {
  const parent = propagation.extract(ROOT_CONTEXT, delivery.headers, headerGetter);
  const failed = spanContextOf(text(delivery.headers[failedAttemptHeader]));
  const links: Link[] = failed ? [{ context: failed, attributes: { "mel.link": "failed attempt" } }] : [];
  const span = tracer().startSpan(
    `process ${delivery.queue}`,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": delivery.queue,
        "messaging.rabbitmq.destination.routing_key": delivery.routingKey,
        "messaging.message.id": delivery.eventId,
        "messaging.message.body.size": delivery.bodySize,
        "mel.event.type": delivery.eventType,
        "mel.event.attempt": delivery.attempt,
        ...(delivery.exchange ? { "mel.event.exchange": delivery.exchange } : {}),
        ...(delivery.correlationId ? { "messaging.message.conversation_id": delivery.correlationId } : {}),
      },
    },
    parent,
  );
  const started = performance.now();
  try {
    await context.with(trace.setSpan(parent, span), work);
  } catch (error) {
    failSpan(span, error, "delivery_failed");
    throw error;
  } finally {
    const outcome = outcomes.get(span) ?? "requeued";
    span.setAttribute("mel.event.outcome", outcome);
    span.end();
    const labels = { "mel.event.type": delivery.eventType, "messaging.destination.name": delivery.queue, outcome };
    meters().consumed.add(1, labels);
    meters().processDuration.record((performance.now() - started) / 1000, labels);
  }
}

/** Tells the delivery being traced how it ended; a failed handler's error goes on its span. */
export function markDeliveryOutcome(outcome: DeliveryOutcome, error?: unknown): void {
  const span = trace.getActiveSpan();
  if (!span) return;
  outcomes.set(span, outcome);
  if (error !== undefined) failSpan(span, error, outcome);
}

function failSpan(span: Span, error: unknown, type: string): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute("error.type", type);
}

function reasonOf(error: unknown): string {
  if (error && typeof error === "object" && "reason" in error && typeof error.reason === "string") {
    return error.reason === "unroutable" ? "returned" : error.reason;
  }
  return "error";
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
}

const headerGetter = {
  get: (carrier: Record<string, unknown>, key: string) => text(carrier[key]),
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
};
