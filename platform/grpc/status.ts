// The one mapping from thrown errors to gRPC statuses (see implementService),
// each with its google.rpc.Status details in grpc-status-details-bin (AIP-193):
// an ErrorInfo with the stable reason always, a BadRequest naming the field
// for INVALID_ARGUMENT, a RetryInfo where waiting helps.
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import type { Any } from "../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, RetryInfo, protobufPackage as rpcPackage } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import { DomainError, ErrorReason, InvalidArgumentError } from "../errors/index.js";

export interface MappedStatus {
  code: GrpcStatus;
  details: string;
  /** Trailing metadata of the status: grpc-status-details-bin. */
  metadata: Metadata;
  /** True when the error was not a typed one: it is a bug, logged with its stack. */
  unexpected: boolean;
}

/** The details an unexpected error gets: nothing about its internals reaches the caller. */
export const internalErrorDetails = "internal error";

/** ErrorInfo.domain of every Mel error: reasons are unique across the mesh (proto/mel/errors/v1). */
export const errorDomain = "mel.lojasmel.com";

/** The trailer that carries a serialized google.rpc.Status (the gRPC convention). */
export const statusDetailsKey = "grpc-status-details-bin";

/** The reason of a status that came without a typed error (an unexpected error, a bare status). */
const reasonByCode: Partial<Record<GrpcStatus, ErrorReason>> = {
  [GrpcStatus.CANCELLED]: ErrorReason.CALL_CANCELLED,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorReason.FIELD_INVALID,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorReason.DEADLINE_PASSED,
  [GrpcStatus.NOT_FOUND]: ErrorReason.RESOURCE_NOT_FOUND,
  [GrpcStatus.ALREADY_EXISTS]: ErrorReason.RESOURCE_ALREADY_EXISTS,
  [GrpcStatus.PERMISSION_DENIED]: ErrorReason.PERMISSION_MISSING,
  [GrpcStatus.RESOURCE_EXHAUSTED]: ErrorReason.QUOTA_EXCEEDED,
  [GrpcStatus.FAILED_PRECONDITION]: ErrorReason.PRECONDITION_FAILED,
  [GrpcStatus.ABORTED]: ErrorReason.CONCURRENT_MODIFICATION,
  [GrpcStatus.UNAVAILABLE]: ErrorReason.SERVICE_UNAVAILABLE,
  [GrpcStatus.UNAUTHENTICATED]: ErrorReason.AUTHENTICATION_REQUIRED,
};

/**
 * platform/errors classes become their status with their message and details;
 * an error that already carries a gRPC status (`{ code, details }`) keeps its
 * code and message and gets the general reason of its code; anything else is
 * INTERNAL "internal error".
 */
export function toGrpcStatus(error: unknown): MappedStatus {
  if (error instanceof DomainError) {
    const code = error.code as number as GrpcStatus;
    return { code, details: error.message, metadata: statusDetailsMetadata(code, error.message, detailsOf(error)), unexpected: false };
  }
  if (isStatusCarrying(error)) {
    const info = errorInfo(reasonByCode[error.code] ?? ErrorReason.INTERNAL_ERROR, {});
    return { code: error.code, details: error.details, metadata: statusDetailsMetadata(error.code, error.details, [info]), unexpected: false };
  }
  const info = errorInfo(ErrorReason.INTERNAL_ERROR, {});
  return {
    code: GrpcStatus.INTERNAL,
    details: internalErrorDetails,
    metadata: statusDetailsMetadata(GrpcStatus.INTERNAL, internalErrorDetails, [info]),
    unexpected: true,
  };
}

/** A grpc-js ServiceError or `{ code, details }` with a non-OK status code. */
export function isStatusCarrying(error: unknown): error is { code: GrpcStatus; details: string; metadata?: Metadata } {
  if (typeof error !== "object" || error === null) return false;
  const { code, details } = error as { code?: unknown; details?: unknown };
  return typeof code === "number" && Number.isInteger(code) && code > 0 && code <= 16 && typeof details === "string";
}

/** "NOT_FOUND" for 5: status names in logs read better than numbers. */
export function statusName(code: GrpcStatus): string {
  return GrpcStatus[code] ?? String(code);
}

/** "BASKET_LINE_LIMIT": the reason string of ErrorInfo, the enum value's name. */
export function reasonName(reason: ErrorReason): string {
  return ErrorReason[reason] ?? ErrorReason[ErrorReason.INTERNAL_ERROR];
}

/** The google.rpc.Status details a status read from `metadata` carries (none when absent or undecodable). */
export function readStatusDetails(metadata: Metadata | undefined): Status | undefined {
  const [raw] = metadata?.get(statusDetailsKey) ?? [];
  if (!(raw instanceof Uint8Array)) return undefined;
  try {
    return Status.decode(raw);
  } catch {
    return undefined;
  }
}

/** The ErrorInfo among a status's details, if any. */
export function errorInfoOf(status: Status | undefined): ErrorInfo | undefined {
  const any = status?.details.find((detail) => detail.typeUrl === typeUrl(ErrorInfo));
  return any === undefined ? undefined : ErrorInfo.decode(any.value);
}

/** What a status says to programs besides its code and message. */
export interface StatusDetailsInput {
  /** The general reason of the code when absent. */
  reason?: ErrorReason | undefined;
  metadata?: Readonly<Record<string, string>> | undefined;
  retryDelayMs?: number | undefined;
}

/**
 * Trailing metadata carrying grpc-status-details-bin for a status built
 * outside implementService (the gateway's own answers): ErrorInfo always,
 * RetryInfo when a retry delay is given.
 */
export function statusDetailsFor(code: GrpcStatus, message: string, input: StatusDetailsInput = {}): Metadata {
  const reason = input.reason ?? reasonByCode[code] ?? ErrorReason.INTERNAL_ERROR;
  return statusDetailsMetadata(code, message, [errorInfo(reason, input.metadata ?? {}), ...retryInfo(input.retryDelayMs)]);
}

function detailsOf(error: DomainError): Any[] {
  const details = [errorInfo(error.reason, error.metadata)];
  if (error instanceof InvalidArgumentError) {
    const violation = { field: error.field, description: error.description, reason: reasonName(error.reason) };
    details.push(pack(BadRequest, BadRequest.fromPartial({ fieldViolations: [violation] })));
  }
  details.push(...retryInfo(error.retryDelayMs));
  return details;
}

function retryInfo(retryDelayMs: number | undefined): Any[] {
  if (retryDelayMs === undefined) return [];
  const ms = Math.max(0, Math.ceil(retryDelayMs));
  return [pack(RetryInfo, { retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } })];
}

function errorInfo(reason: ErrorReason, metadata: Readonly<Record<string, string>>): Any {
  return pack(ErrorInfo, { reason: reasonName(reason), domain: errorDomain, metadata: { ...metadata } });
}

interface Packable<T> {
  encode(message: T): { finish(): Uint8Array };
  fromPartial(object: never): T;
}

// ts-proto's codecs do not carry their message's full name, so the type URLs
// of the three details the platform sends are named here.
const typeNames = new Map<unknown, string>([
  [ErrorInfo, `${rpcPackage}.ErrorInfo`],
  [BadRequest, `${rpcPackage}.BadRequest`],
  [RetryInfo, `${rpcPackage}.RetryInfo`],
]);

function typeUrl(codec: unknown): string {
  return `type.googleapis.com/${typeNames.get(codec)}`;
}

function pack<T>(codec: Packable<T>, message: T): Any {
  return { typeUrl: typeUrl(codec), value: Buffer.from(codec.encode(message).finish()) };
}

function statusDetailsMetadata(code: GrpcStatus, message: string, details: Any[]): Metadata {
  const metadata = new Metadata();
  metadata.set(statusDetailsKey, Buffer.from(Status.encode({ code, message, details }).finish()));
  return metadata;
}
