// The one mapping from thrown errors to gRPC statuses (see implementService).
import { status as GrpcStatus, type Metadata } from "@grpc/grpc-js";
import { DomainError } from "../errors/index.js";

export interface MappedStatus {
  code: GrpcStatus;
  details: string;
  /** True when the error was not a typed one: it is a bug, logged with its stack. */
  unexpected: boolean;
}

/** The details an unexpected error gets: nothing about its internals reaches the caller. */
export const internalErrorDetails = "internal error";

/**
 * platform/errors classes become their status with their message; an error that
 * already carries a gRPC status (an upstream call's ServiceError, a status
 * object) passes through; anything else is INTERNAL "internal error".
 */
export function toGrpcStatus(error: unknown): MappedStatus {
  if (error instanceof DomainError) return { code: error.code as number as GrpcStatus, details: error.message, unexpected: false };
  if (isStatusCarrying(error)) return { code: error.code, details: error.details, unexpected: false };
  return { code: GrpcStatus.INTERNAL, details: internalErrorDetails, unexpected: true };
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
