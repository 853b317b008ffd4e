// The RPC and HTTP server metrics, recorded where calls begin and end
// (platform/grpc's server wrapper and client interceptor, the gateway's
// response hook) rather than derived from spans: counting from spans would
// make every call pay for a span even when no trace is exported. Names and
// attributes are the OTel semantic conventions' (rpc.server.call.duration,
// rpc.client.call.duration and http.server.request.duration, in seconds).
// Without the SDK the meter is the API's no-op and recording costs nothing.
import { type Attributes, type Histogram, metrics } from "@opentelemetry/api";

// Seconds; from a cached read (1 ms) to a checkout waiting on its deadline.
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histograms {
  server: Histogram;
  client: Histogram;
  http: Histogram;
}

let histograms: Histograms | undefined;

// Made on first use, not at import: register.ts installs the meter provider
// before the service's modules run, and a meter taken before that would stay a no-op.
function histogramsNow(): Histograms {
  if (histograms) return histograms;
  const advice = { explicitBucketBoundaries: durationBuckets };
  const rpc = metrics.getMeter("mel.grpc");
  histograms = {
    server: rpc.createHistogram("rpc.server.call.duration", { unit: "s", description: "Duration of gRPC calls served", advice }),
    client: rpc.createHistogram("rpc.client.call.duration", { unit: "s", description: "Duration of gRPC calls made", advice }),
    http: metrics.getMeter("mel.http").createHistogram("http.server.request.duration", { unit: "s", description: "Duration of HTTP requests served", advice }),
  };
  return histograms;
}

// One frozen attribute set per method and status, so a call allocates none.
const rpcAttributes = new Map<string, Attributes>();

function attributesOf(path: string, code: number): Attributes {
  const key = `${code}${path}`;
  let attributes = rpcAttributes.get(key);
  if (attributes === undefined) {
    // "/mel.catalog.v1.CatalogService/GetItem" → service and method.
    const slash = path.lastIndexOf("/");
    attributes = Object.freeze({
      "rpc.system": "grpc",
      "rpc.service": path.slice(1, slash),
      "rpc.method": path.slice(slash + 1),
      "rpc.grpc.status_code": code,
    });
    rpcAttributes.set(key, attributes);
  }
  return attributes;
}

/** One served gRPC call of `path` that ended with `code` after `seconds`. */
export function recordServerCall(path: string, code: number, seconds: number): void {
  histogramsNow().server.record(seconds, attributesOf(path, code));
}

/** One gRPC call made to `path` that ended with `code` after `seconds` (retries and waiting on the breaker included). */
export function recordClientCall(path: string, code: number, seconds: number): void {
  histogramsNow().client.record(seconds, attributesOf(path, code));
}

/** One HTTP request served; `route` is the matched template ("/api/v1/catalog/items/{id}"), absent when none matched. */
export function recordHttpServerRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
  const attributes: Attributes = { "http.request.method": method, "http.response.status_code": statusCode, "url.scheme": "http" };
  if (route !== undefined) attributes["http.route"] = route;
  histogramsNow().http.record(seconds, attributes);
}
