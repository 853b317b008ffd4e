// gRPC status ⇄ HTTP: the one place the gateway maps statuses, as grpc-gateway
// does (runtime/errors.go HTTPStatusFromCode), and the google.rpc.Status-shaped
// JSON body every HTTP error carries.

import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { type StatusDetailsInput, statusDetailsFor } from "../platform/grpc/index.js";

const httpStatusByGrpcCode: Record<GrpcStatus, number> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

export function httpStatusFromGrpc(code: number): number {
  return httpStatusByGrpcCode[code as GrpcStatus] ?? 500;
}

/**
 * An error the gateway itself answers with (bad input, unknown route, limits).
 * httpStatus overrides the mapped status where HTTP has a more precise one
 * (405, 413, 415) than the gRPC code.
 */
export class GatewayError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
    readonly httpStatus: number = httpStatusFromGrpc(code),
    readonly headers: Record<string, string> = {},
    /** The reason and retry delay programs read in the error details (see docs/errors.md). */
    readonly statusDetails: StatusDetailsInput = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }

  /** grpc-status-details-bin for this error: ErrorInfo, and RetryInfo when waiting helps. */
  statusMetadata(): Metadata {
    return statusDetailsFor(this.code, this.message, this.statusDetails);
  }
}

/**
 * The HTTP client went away before its request was read: a client event, not
 * a gateway failure, so it is logged without a stack and nobody is answered.
 */
export class ClientAbortError extends Error {
  override name = "ClientAbortError";
}

/** What an upstream call failed with (a grpc-js ServiceError has this shape). */
export interface UpstreamFailure {
  code: number;
  details: string;
  metadata?: Metadata | undefined;
}

export function isUpstreamFailure(error: unknown): error is UpstreamFailure {
  return typeof error === "object" && error !== null && typeof (error as UpstreamFailure).code === "number" && "details" in error;
}

/**
 * grpc-js writes its own UNAVAILABLE and DEADLINE_EXCEEDED messages with the
 * upstream's internal address ("connect ECONNREFUSED 10.0.3.7:50052"); clients
 * get a message that names the service instead, and the original is logged.
 */
export function withPublicMessage(failure: UpstreamFailure, serviceName: string, log: (original: string) => void): UpstreamFailure {
  if (failure.code === GrpcStatus.UNAVAILABLE) {
    log(failure.details);
    return { ...failure, details: `${serviceName} is unavailable; retry shortly` };
  }
  if (failure.code === GrpcStatus.DEADLINE_EXCEEDED) {
    log(failure.details);
    return { ...failure, details: `${serviceName} did not answer before the deadline` };
  }
  return failure;
}

export interface StatusJson {
  [key: string]: JsonValue;
  code: number;
  message: string;
  details: JsonValue[];
}

export function statusJson(code: number, message: string, details: JsonValue[] = []): StatusJson {
  return { code, message, details };
}

/**
 * The JSON body for an upstream failure, as grpc-gateway writes it: the code,
 * the (public) message, and the details of the standard grpc-status-details-bin
 * trailer (a binary google.rpc.Status, decoded with the descriptor set's
 * google.rpc types) in proto3 JSON with their "@type". A detail whose type the
 * descriptor set does not know cannot be rendered and is left out.
 */
export function statusJsonFromFailure(failure: UpstreamFailure, registry: Registry): StatusJson {
  const details: JsonValue[] = [];
  for (const any of statusDetailsOf(failure.metadata, registry)) {
    try {
      details.push(toJson(AnySchema, any, { registry }));
    } catch {
      // Unknown detail type: the code and message still say what failed.
    }
  }
  return statusJson(failure.code, failure.details, details);
}

// Code and message also travel as grpc-status and grpc-message (and the
// gateway may have made the message public), so only the details are read.
function statusDetailsOf(metadata: Metadata | undefined, registry: Registry): Any[] {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  const schema = registry.getMessage("google.rpc.Status");
  if (!(raw instanceof Uint8Array) || schema === undefined) return [];
  try {
    const status = fromBinary(schema, raw) as unknown as { details?: Any[] };
    return status.details ?? [];
  } catch {
    return [];
  }
}

/**
 * Answers a request Node's HTTP parser rejected before any handler saw it
 * (headers past the size limit, a malformed request line or header, a request
 * not received in time) with the gateway's status JSON, then closes the
 * connection, as Node does: the rest of its bytes cannot be trusted.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // The connection is already gone: nothing to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [httpStatus, code, message] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, GrpcStatus.RESOURCE_EXHAUSTED, "the request headers are larger than the limit"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, GrpcStatus.DEADLINE_EXCEEDED, "the request was not received in time"]
        : [400, GrpcStatus.INVALID_ARGUMENT, `malformed HTTP request (${error.code ?? "parse error"})`];
  const body = JSON.stringify(statusJson(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${httpStatus} ${STATUS_CODES[httpStatus]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
