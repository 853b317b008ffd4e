// The gateway's view of the services behind it: one platform client channel
// per upstream address (deadline on every call, retries only for idempotent
// methods, a circuit breaker, round robin), called with pass-through
// serializers so request and response bytes are never decoded on the gRPC-Web
// path (the JSON path encodes and decodes them itself, from the descriptors).

import type { ChannelCredentials, Client, ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import { HealthCheckRequest, HealthCheckResponse, HealthCheckResponse_ServingStatus, HealthService } from "../gen/health/v1/health.js";
import { createGenericClient } from "../platform/grpc/index.js";
import type { Logger } from "../platform/log/index.js";

export interface UpstreamCallOptions {
  metadata: Metadata;
  deadline: Date;
  /** Aborting cancels the call (the HTTP client went away). */
  signal?: AbortSignal | undefined;
}

export interface UnaryOutcome {
  message: Buffer;
  headers: Metadata;
  trailers: Metadata;
}

/** What a failed call rejects with: a grpc-js ServiceError. */
export type UpstreamError = ServiceError;

export type ServingStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN" | "UNREACHABLE";

export interface Upstream {
  readonly address: string;
  unary(path: string, request: Uint8Array, options: UpstreamCallOptions): Promise<UnaryOutcome>;
  serverStream(path: string, request: Uint8Array, options: UpstreamCallOptions): ClientReadableStream<Buffer>;
  /** grpc.health.v1.Health/Check for one service name ("" = the whole server). */
  checkHealth(service: string, deadline: Date): Promise<ServingStatus>;
  close(): void;
}

const passThrough = (bytes: Uint8Array | Buffer): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export interface UpstreamOptions {
  /** "host:port", several of them, or a gRPC target ("dns:///catalog:50052"). */
  address: string;
  /** Short name for logs and breaker messages ("catalog"). */
  name: string;
  /** Full method names ("mel.catalog.v1.CatalogService/GetItem") safe to retry. */
  idempotentMethods: string[];
  logger: Logger;
  /** Mutual TLS to the upstream (platform/grpc transport); plaintext when omitted. */
  credentials?: ChannelCredentials;
}

/** An upstream on the platform's client channel. */
export function createUpstream(options: UpstreamOptions): Upstream {
  const { client } = createGenericClient({
    upstream: options.name,
    target: options.address,
    idempotentMethods: options.idempotentMethods,
    logger: options.logger,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  return upstreamOnClient(options.address, client);
}

function upstreamOnClient(address: string, client: Client): Upstream {
  const unary = (path: string, request: Uint8Array, options: UpstreamCallOptions): Promise<UnaryOutcome> =>
    new Promise((resolve, reject) => {
      let headers = new Metadata();
      let message: Buffer | undefined;
      let failure: ServiceError | undefined;
      const call = client.makeUnaryRequest<Uint8Array, Buffer>(
        path,
        passThrough,
        passThrough,
        request,
        options.metadata,
        { deadline: options.deadline },
        (error, response) => {
          failure = error ?? undefined;
          message = response;
        },
      );
      const onAbort = () => call.cancel();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      call.on("metadata", (received: Metadata) => (headers = received));
      call.on("status", (status) => {
        options.signal?.removeEventListener("abort", onAbort);
        if (failure) reject(failure);
        else resolve({ message: message ?? Buffer.alloc(0), headers, trailers: status.metadata });
      });
    });

  const serverStream = (path: string, request: Uint8Array, options: UpstreamCallOptions): ClientReadableStream<Buffer> => {
    const call = client.makeServerStreamRequest<Uint8Array, Buffer>(path, passThrough, passThrough, request, options.metadata, { deadline: options.deadline });
    const onAbort = () => call.cancel();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    call.on("status", () => options.signal?.removeEventListener("abort", onAbort));
    return call;
  };

  const checkHealth = async (service: string, deadline: Date): Promise<ServingStatus> => {
    try {
      const request = HealthCheckRequest.encode({ service }).finish();
      const outcome = await unary(HealthService.check.path, request, { metadata: new Metadata(), deadline });
      return servingStatusName(HealthCheckResponse.decode(outcome.message).status);
    } catch (error: unknown) {
      const code = (error as ServiceError).code;
      if (code === GrpcStatus.NOT_FOUND) return "SERVICE_UNKNOWN";
      return "UNREACHABLE";
    }
  };

  return { address, unary, serverStream, checkHealth, close: () => client.close() };
}

function servingStatusName(status: HealthCheckResponse_ServingStatus): ServingStatus {
  switch (status) {
    case HealthCheckResponse_ServingStatus.SERVING:
      return "SERVING";
    case HealthCheckResponse_ServingStatus.NOT_SERVING:
      return "NOT_SERVING";
    case HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}
