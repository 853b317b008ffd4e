// The active trace as the rest of the platform needs it: fields for log
// lines and the W3C traceparent of the current span, for places that store
// a trace for later (the outbox row, a saga's step). Only the OpenTelemetry
// API is used, so without the SDK (tests, tools) these are cheap no-ops.
import { type Attributes, context, isSpanContextValid, ROOT_CONTEXT, type SpanContext, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { getRPCMetadata, RPCType, W3CTraceContextPropagator } from "@opentelemetry/core";

// Always W3C, whatever OTEL_PROPAGATORS says: the stored column is a traceparent.
const w3c = new W3CTraceContextPropagator();

/** `trace_id`, `span_id` and `trace_flags` of the active span for a log line; empty outside a span. */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!isSpanContextValid(span.spanContext())) return {};
  return { trace_id: traceId, span_id: spanId, trace_flags: traceFlags.toString(16).padStart(2, "0") };
}

/** The traceparent of the active span, undefined when there is none (no SDK, or outside any span). */
export function activeTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span || !isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Record<string, string> = {};
  w3c.inject(context.active(), carrier, {
    set: (target, key, value) => {
      target[key] = value;
    },
  });
  return carrier.traceparent;
}

/** The span context a stored traceparent names, undefined for a missing or malformed one. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const extracted = w3c.extract(ROOT_CONTEXT, { traceparent }, { get: (carrier, key) => carrier[key as "traceparent"], keys: () => ["traceparent"] });
  const spanContext = trace.getSpanContext(extracted);
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** A context whose parent is the span `traceparent` names (the root context when it names none). */
export function contextOf(traceparent: string | undefined) {
  const spanContext = spanContextOf(traceparent);
  return spanContext ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

/**
 * Runs `work` in an INTERNAL span continuing the trace `traceparent` names
 * (a new trace when it names none): for work that runs after the request
 * that caused it ended, such as a saga's scheduled step.
 */
export async function traceStep<T>(name: string, traceparent: string | undefined, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  const parent = contextOf(traceparent);
  const span = trace.getTracer("mel").startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), work);
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

const httpRoutes = new WeakMap<object, string>();

/**
 * Names the route of the HTTP request being served (its path template, such
 * as "/api/v1/orders/{id}"), for the request's span and the
 * http.server.request.duration metric: the gateway serves every path from one
 * catch-all route, so only it knows which binding matched.
 */
export function setHttpRoute(request: object, route: string): void {
  httpRoutes.set(request, route);
  const metadata = getRPCMetadata(context.active());
  if (metadata?.type === RPCType.HTTP) metadata.route = route;
  trace.getActiveSpan()?.setAttribute("http.route", route);
}

/** The route setHttpRoute named for `request`, if any. */
export function httpRouteOf(request: object): string | undefined {
  return httpRoutes.get(request);
}
