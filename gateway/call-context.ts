// What a browser or HTTP client request carries on to the upstream call: the
// caller's token, a correlation id (made here when the client sent none), the
// W3C trace context, and a deadline (the client's grpc-timeout within the
// gateway's floor and cap, or the gateway's default). Nothing else from the
// HTTP request reaches a service.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import { GatewayError } from "./http-status.js";

export const correlationIdHeader = "x-correlation-id";
const forwardedHeaders = ["authorization", "traceparent", "tracestate"] as const;
// Long enough for a UUID or a trace id, short and plain enough to log safely.
const correlationIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export interface CallContext {
  metadata: Metadata;
  deadline: Date;
  correlationId: string;
}

export interface DeadlinePolicy {
  /** Used when the client sends no grpc-timeout. */
  defaultTimeoutMs: number;
  /** A client's grpc-timeout is capped at this. */
  maxTimeoutMs: number;
  /** A client's grpc-timeout is raised to at least this. */
  minTimeoutMs: number;
}

export function callContextFromHeaders(headers: IncomingHttpHeaders, policy: DeadlinePolicy, now = Date.now()): CallContext {
  const metadata = new Metadata();
  for (const name of forwardedHeaders) {
    const value = headers[name];
    if (typeof value === "string" && value.length > 0) metadata.set(name, value);
  }
  const offered = headers[correlationIdHeader];
  const correlationId = typeof offered === "string" && correlationIdPattern.test(offered) ? offered : randomUUID();
  metadata.set(correlationIdHeader, correlationId);
  const timeoutHeader = headers["grpc-timeout"];
  const requested = typeof timeoutHeader === "string" ? parseGrpcTimeout(timeoutHeader) : undefined;
  const timeoutMs = requested === undefined ? policy.defaultTimeoutMs : Math.min(Math.max(requested, policy.minTimeoutMs), policy.maxTimeoutMs);
  return { metadata, deadline: new Date(now + timeoutMs), correlationId };
}

const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Parses a gRPC "grpc-timeout" value (1–8 digits and a unit: H M S m u n) into milliseconds. */
export function parseGrpcTimeout(value: string): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  const scale = match?.[2] === undefined ? undefined : unitMs[match[2]];
  if (!match || scale === undefined) {
    throw new GatewayError(GrpcStatus.INVALID_ARGUMENT, `grpc-timeout "${value}" is not valid: use up to 8 digits and a unit (H, M, S, m, u, n), e.g. 500m`);
  }
  return Math.max(1, Math.ceil(Number(match[1]) * scale));
}
