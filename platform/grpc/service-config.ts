// The grpc-js service config and target every platform client channel gets:
// round robin over the upstream's addresses, and retry policies only for the
// methods declared idempotent. grpc-js runs the retries itself (per attempt,
// with backoff and retry throttling), so no call site loops.
import { status as GrpcStatus } from "@grpc/grpc-js";

export interface RetryOptions {
  /** Attempts including the first (grpc-js needs ≥ 2; values above 5 raise its cap). */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
  /** Status codes that are retried; UNAVAILABLE by default (the call never reached a handler or it was refused). */
  retryableStatusCodes?: GrpcStatus[];
}

export interface RetryThrottlingOptions {
  /** Token bucket size; retries stop while the bucket is at or below half of it. */
  maxTokens: number;
  /** Tokens earned back per successful call. */
  tokenRatio: number;
}

export const defaultRetry: Required<RetryOptions> = {
  maxAttempts: 3,
  initialBackoffMs: 50,
  maxBackoffMs: 1000,
  backoffMultiplier: 2,
  retryableStatusCodes: [GrpcStatus.UNAVAILABLE],
};

export const defaultRetryThrottling: RetryThrottlingOptions = { maxTokens: 10, tokenRatio: 0.1 };

/** A method named by its proto service and method ("mel.catalog.v1.CatalogService", "GetItem"). */
export interface MethodName {
  service: string;
  method: string;
}

export interface ServiceConfigInput {
  idempotentMethods: MethodName[];
  retry: Required<RetryOptions>;
  retryThrottling: RetryThrottlingOptions;
}

/** The JSON service config (https://github.com/grpc/grpc/blob/master/doc/service_config.md). */
export function buildServiceConfig({ idempotentMethods, retry, retryThrottling }: ServiceConfigInput): object {
  if (retry.maxAttempts < 2) throw new Error(`retry.maxAttempts must be at least 2 (got ${retry.maxAttempts}); list no idempotent methods to disable retries`);
  const methodConfig =
    idempotentMethods.length === 0
      ? []
      : [
          {
            name: idempotentMethods.map(({ service, method }) => ({ service, method })),
            retryPolicy: {
              maxAttempts: retry.maxAttempts,
              initialBackoff: seconds(retry.initialBackoffMs),
              maxBackoff: seconds(retry.maxBackoffMs),
              backoffMultiplier: retry.backoffMultiplier,
              retryableStatusCodes: retry.retryableStatusCodes.map((code) => GrpcStatus[code]),
            },
          },
        ];
  return {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig,
    retryThrottling,
  };
}

function seconds(ms: number): string {
  return `${(Math.max(ms, 1) / 1000).toFixed(3)}s`;
}

const ipv4HostPort = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
const ipv6HostPort = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/;
const schemeTarget = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/;

/**
 * The grpc-js channel target for "host:port", "h1:p1,h2:p2" or a target that
 * already names its resolver. A list is spread by round robin, so its
 * entries must be IP addresses (localhost stands for 127.0.0.1): grpc-js
 * resolves one DNS name per channel. For several hosts by name, use one DNS
 * name that resolves to all of them ("dns:///catalog:50052").
 */
export function toChannelTarget(target: string): string {
  const trimmed = target.trim();
  if (schemeTarget.test(trimmed) && !/^[^:]+:\d+$/.test(trimmed)) return trimmed;
  const parts = trimmed
    .split(",")
    .map((part) => part.trim().replace(/^localhost:/, "127.0.0.1:"))
    .filter((part) => part.length > 0);
  if (parts.length === 0) throw new Error("a gRPC target needs at least one host:port");
  const [only] = parts;
  if (parts.length === 1 && only !== undefined) return only;
  if (parts.every((part) => ipv4HostPort.test(part))) return `ipv4:${parts.join(",")}`;
  if (parts.every((part) => ipv6HostPort.test(part))) return `ipv6:${parts.join(",")}`;
  throw new Error(
    `cannot spread calls over "${target}": a list of addresses must be all IPv4 or all IPv6 addresses; for host names use one DNS name that resolves to every instance, e.g. "dns:///catalog:50052"`,
  );
}
