// RPC metrics computed from the spans the gRPC instrumentation makes: it
// records no metrics of its own, and computing them here keeps
// platform/grpc free of measuring code. Names and attributes are the OTel RPC
// semantic conventions' (rpc.server.call.duration, rpc.client.call.duration,
// in seconds, by rpc.service, rpc.method and rpc.grpc.status_code).
import { type Attributes, type Histogram, type Meter, SpanKind } from "@opentelemetry/api";
import { hrTimeToMilliseconds } from "@opentelemetry/core";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";

// Seconds; from a cached read (1 ms) to a checkout waiting on its deadline.
const rpcBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A span processor that records every finished gRPC span's duration in the RPC histograms. */
export function createSpanMetricsProcessor(meter: () => Meter): SpanProcessor {
  let server: Histogram | undefined;
  let client: Histogram | undefined;
  // Made on first use: the meter provider is registered after the span processors are built.
  const histograms = () => {
    if (!server || !client) {
      const m = meter();
      const advice = { explicitBucketBoundaries: rpcBuckets };
      server = m.createHistogram("rpc.server.call.duration", { unit: "s", description: "Duration of gRPC calls served", advice });
      client = m.createHistogram("rpc.client.call.duration", { unit: "s", description: "Duration of gRPC calls made", advice });
    }
    return { server, client };
  };
  return {
    onStart: () => undefined,
    onEnd(span: ReadableSpan) {
      if (span.attributes["rpc.system"] !== "grpc") return;
      if (span.kind !== SpanKind.SERVER && span.kind !== SpanKind.CLIENT) return;
      const attributes: Attributes = {
        "rpc.system": "grpc",
        "rpc.service": span.attributes["rpc.service"] ?? "",
        "rpc.method": span.attributes["rpc.method"] ?? "",
        "rpc.grpc.status_code": span.attributes["rpc.grpc.status_code"] ?? 2,
      };
      const seconds = hrTimeToMilliseconds(span.duration) / 1000;
      const { server: served, client: made } = histograms();
      (span.kind === SpanKind.SERVER ? served : made).record(seconds, attributes);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}
