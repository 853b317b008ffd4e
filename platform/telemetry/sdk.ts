// Builds and starts the OpenTelemetry Node SDK for one process. Everything
// standard comes from the OTEL_* variables (OTEL_SERVICE_NAME,
// OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL
// http/protobuf or grpc, OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS); what is ours is the choice of
// instrumentations, that nothing is exported without an endpoint, and the
// process's Prometheus endpoint.
import { FastifyOtelInstrumentation } from "@fastify/otel";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter as OTLPGrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { GrpcInstrumentation } from "@opentelemetry/instrumentation-grpc";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { MongoDBInstrumentation } from "@opentelemetry/instrumentation-mongodb";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { RuntimeNodeInstrumentation } from "@opentelemetry/instrumentation-runtime-node";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationType, type MetricReader } from "@opentelemetry/sdk-metrics";
import { NodeSDK } from "@opentelemetry/sdk-node";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

export interface TelemetryOptions {
  /** service.name unless OTEL_SERVICE_NAME says otherwise ("catalog", "gateway"). */
  serviceName: string;
  /** Port of this process's Prometheus `/metrics`; 0 turns it off. */
  metricsPort: number;
  /** Interface the metrics port binds. Default all interfaces, so Prometheus in another container can scrape it. */
  metricsHost?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunningTelemetry {
  /** The metrics port, undefined when off. */
  metricsPort: number | undefined;
  /** Exports what is buffered and stops; call before the process exits. */
  shutdown(): Promise<void>;
}

/** True when an OTLP endpoint for traces is configured, the only case in which spans leave the process. */
export function exportsTraces(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_TRACES_EXPORTER ?? "").trim() === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts the SDK: metrics on a Prometheus endpoint always, and, only when an
 * OTLP endpoint is set, W3C trace context with the maintained
 * instrumentations of what Mel runs on (grpc-js, node:http, fastify, pg, the
 * MongoDB driver) and spans exported over OTLP. Must run before grpc-js and
 * the rest are imported (see register.ts).
 *
 * Without an endpoint no tracer provider is registered and no instrumentation
 * patches anything, so a call pays for no span: the RPC and HTTP metrics are
 * recorded by platform/grpc and the gateway themselves (rpc-metrics.ts), the
 * event metrics by platform/events, and trace context still travels from hop
 * to hop in the metadata the platform copies.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<RunningTelemetry> {
  const env = options.env ?? process.env;
  // Mel logs to stdout for the platform's log shipper; the SDK's OTLP log
  // export would send a second copy.
  env.OTEL_LOGS_EXPORTER ??= "none";
  // The stable HTTP conventions: http.server.request.duration in seconds, http.request.method, url.path.
  env.OTEL_SEMCONV_STABILITY_OPT_IN ??= "http";
  const tracing = exportsTraces(env);
  const metricReaders: MetricReader[] = [];
  let prometheus: PrometheusExporter | undefined;
  if (options.metricsPort !== 0) {
    prometheus = await startPrometheusExporter(options.metricsPort, options.metricsHost ?? "0.0.0.0");
    metricReaders.push(prometheus);
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME?.trim() || options.serviceName, "service.namespace": "mel" }),
    sampler: samplerFromEnv(env),
    // An empty list, not an absent one: the SDK would otherwise build an OTLP
    // exporter from its defaults and send spans to localhost.
    spanProcessors: tracing ? [new BatchSpanProcessor(otlpExporter(env))] : [],
    metricReaders,
    views: [
      // db.client.connection.count is an up-down counter whose Prometheus name would end in _count,
      // which Prometheus reserves for histograms and summaries (promtool refuses it).
      { instrumentName: "db.client.connection.count", name: "db.client.connections" },
      // The gateway records http.server.request.duration itself, with the route
      // it matched, traced or not; the HTTP instrumentation's copy would count
      // every request twice.
      { meterName: "@opentelemetry/instrumentation-http", aggregation: { type: AggregationType.DROP } },
    ],
    instrumentations: [
      ...(tracing
        ? [
            new GrpcInstrumentation(),
            new HttpInstrumentation({
              // Health probes every few seconds would drown the traces.
              ignoreIncomingRequestHook: (request) => /^\/(healthz|readyz|livez|metrics)\b/.test(request.url ?? ""),
            }),
            new FastifyOtelInstrumentation({ registerOnInitialization: true }),
            new PgInstrumentation({ requireParentSpan: true }),
            new MongoDBInstrumentation({ requireParentSpan: true }),
          ]
        : []),
      // Event-loop delay and utilisation, heap and GC: the runtime metrics.
      new RuntimeNodeInstrumentation(),
    ],
  });
  sdk.start();
  return {
    metricsPort: prometheus ? options.metricsPort : undefined,
    shutdown: () => sdk.shutdown(),
  };
}

/** OTLP over http/protobuf (port 4318) unless OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is grpc (port 4317); both read the endpoint from OTEL_*. */
function otlpExporter(env: NodeJS.ProcessEnv): SpanExporter {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf").trim();
  return protocol === "grpc" ? new OTLPGrpcTraceExporter() : new OTLPTraceExporter();
}

function startPrometheusExporter(port: number, host: string): Promise<PrometheusExporter> {
  return new Promise((resolve, reject) => {
    const exporter = new PrometheusExporter({ port, host, preventServerStart: false }, (error) => (error ? reject(error) : resolve(exporter)));
  });
}

/** OTEL_TRACES_SAMPLER / _ARG as the specification defines them; parentbased_always_on by default. */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on").trim();
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const ratioSampler = () => new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1);
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratioSampler();
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratioSampler() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
