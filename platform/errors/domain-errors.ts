// Typed errors that domain and service code throw to say what went wrong in
// terms a caller can act on. Each carries the gRPC status code it stands for as
// a plain number, so this file needs no gRPC import: the numbers are fixed by
// the gRPC protocol (https://grpc.github.io/grpc/core/md_doc_statuscodes.html)
// and platform/grpc turns an error into that status in one place, with the
// error's reason, field and retry delay as google.rpc error details.
import { ErrorReason } from "../../gen/mel/errors/v1/error_reason.js";

export { ErrorReason };

/** The gRPC status codes a domain error may carry (values fixed by the protocol). */
export const StatusCode = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  /** Only for a dependency that failed in a way the caller cannot act on (platform/grpc's upstream failures). */
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type DomainStatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** What a typed error may say besides its message (see docs/errors.md). */
export interface DomainErrorOptions extends ErrorOptions {
  /** The stable reason a program acts on; the error class's general reason otherwise. */
  reason?: ErrorReason;
  /** Facts a program may need with the reason ("limit", "product_id"), sent as ErrorInfo.metadata. */
  metadata?: Readonly<Record<string, string>>;
  /** How long the caller should wait before trying again, sent as RetryInfo (lock-outs, rate limits). */
  retryDelayMs?: number;
}

/** The reason of a typed error that names none: one per status code. */
const generalReasons: Record<DomainStatusCode, ErrorReason> = {
  [StatusCode.CANCELLED]: ErrorReason.CALL_CANCELLED,
  [StatusCode.INVALID_ARGUMENT]: ErrorReason.FIELD_INVALID,
  [StatusCode.DEADLINE_EXCEEDED]: ErrorReason.DEADLINE_PASSED,
  [StatusCode.NOT_FOUND]: ErrorReason.RESOURCE_NOT_FOUND,
  [StatusCode.ALREADY_EXISTS]: ErrorReason.RESOURCE_ALREADY_EXISTS,
  [StatusCode.PERMISSION_DENIED]: ErrorReason.PERMISSION_MISSING,
  [StatusCode.RESOURCE_EXHAUSTED]: ErrorReason.QUOTA_EXCEEDED,
  [StatusCode.FAILED_PRECONDITION]: ErrorReason.PRECONDITION_FAILED,
  [StatusCode.ABORTED]: ErrorReason.CONCURRENT_MODIFICATION,
  [StatusCode.INTERNAL]: ErrorReason.INTERNAL_ERROR,
  [StatusCode.UNAVAILABLE]: ErrorReason.SERVICE_UNAVAILABLE,
  [StatusCode.UNAUTHENTICATED]: ErrorReason.AUTHENTICATION_REQUIRED,
};

/**
 * Base of every typed error. The message is what the caller reads in the
 * status, so it names the thing and says what would be valid; the reason is
 * what a program reads (ErrorInfo.reason in the status details).
 */
export abstract class DomainError extends Error {
  abstract readonly code: DomainStatusCode;
  readonly metadata: Readonly<Record<string, string>>;
  readonly retryDelayMs: number | undefined;
  readonly #reason: ErrorReason | undefined;

  constructor(message: string, options: DomainErrorOptions = {}) {
    const { reason, metadata, retryDelayMs, ...errorOptions } = options;
    super(message, errorOptions);
    this.name = new.target.name;
    this.#reason = reason;
    this.metadata = metadata ?? {};
    this.retryDelayMs = retryDelayMs;
  }

  /** The stable reason: the one given, else the general one of the status code. */
  get reason(): ErrorReason {
    return this.#reason ?? generalReasons[this.code];
  }
}

/**
 * A request field is missing or malformed. The message becomes
 * "<field>: <description>", and the field travels as a BadRequest field violation.
 */
export class InvalidArgumentError extends DomainError {
  readonly code = StatusCode.INVALID_ARGUMENT;

  constructor(
    /**
     * The request field at fault as a path in proto spelling, as
     * google.rpc.BadRequest.FieldViolation documents it ("card.expiry_month",
     * "lines[2].quantity").
     */
    readonly field: string,
    /** What is wrong and what would be valid. */
    readonly description: string,
    options?: DomainErrorOptions,
  ) {
    super(`${field}: ${description}`, options);
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends DomainError {
  readonly code = StatusCode.NOT_FOUND;
}

/** The thing to create exists already (same key, same unique value). */
export class AlreadyExistsError extends DomainError {
  readonly code = StatusCode.ALREADY_EXISTS;
}

/** The system is not in a state where this operation makes sense; retrying as is will not help. */
export class FailedPreconditionError extends DomainError {
  readonly code = StatusCode.FAILED_PRECONDITION;
}

/** The caller is known but lacks the right to do this. */
export class PermissionDeniedError extends DomainError {
  readonly code = StatusCode.PERMISSION_DENIED;
}

/** No valid credentials came with the call (missing, expired or bad token). */
export class UnauthenticatedError extends DomainError {
  readonly code = StatusCode.UNAUTHENTICATED;
}

/** A quota or rate limit ran out (too many attempts, too large a batch). */
export class ResourceExhaustedError extends DomainError {
  readonly code = StatusCode.RESOURCE_EXHAUSTED;
}

/** A dependency is down for now; the same call may succeed later. */
export class UnavailableError extends DomainError {
  readonly code = StatusCode.UNAVAILABLE;
}

/** A concurrent change won a race (optimistic concurrency); the caller may retry the whole operation. */
export class AbortedError extends DomainError {
  readonly code = StatusCode.ABORTED;
}

/** The work could not finish within its time budget. */
export class DeadlineExceededError extends DomainError {
  readonly code = StatusCode.DEADLINE_EXCEEDED;
}

/** The work was given up because the caller went away. */
export class CancelledError extends DomainError {
  readonly code = StatusCode.CANCELLED;
}
