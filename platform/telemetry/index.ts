// platform/telemetry: traces and metrics for every process through the
// OpenTelemetry SDK, which register.ts (node --import) starts before the
// service loads, configured by the standard OTEL_* variables and
// MEL_<PART>_METRICS_PORT. What the maintained instrumentations cannot see
// is here: the trace an outbox row carries, publish and process spans of
// integration events with their outcomes, and trace ids for log lines.
//
// It must never be needed by a service's own code (services run unchanged
// without the SDK: every function here is then a cheap no-op), never import
// the SDK outside register.ts and sdk.ts (the rest uses the
// API and @opentelemetry/core only), and never let telemetry fail a call, a
// publish or a delivery.

export {
  type Delivery,
  type DeliveryOutcome,
  failedAttemptHeader,
  markDeliveryOutcome,
  type PublishedMessage,
  traceDelivery,
  tracePublish,
} from "./messaging.js";
export { observeOutbox } from "./outbox-metrics.js";
export { observeBreaker, observeDeadLetterDepth } from "./resilience-metrics.js";
export { recordClientCall, recordHttpServerRequest, recordServerCall } from "./rpc-metrics.js";
export { shutdownTelemetry } from "./shutdown.js";
export { activeTraceparent, httpRouteOf, setHttpRoute, traceFields, traceStep } from "./trace-context.js";
