// Typed errors that domain and service code throw to say what went wrong in
// terms a caller can act on. Each carries the gRPC status code it stands for as
// a plain number, so this file needs no gRPC import: the numbers are fixed by
// the gRPC protocol (https://grpc.github.io/grpc/core/md_doc_statuscodes.html)
// and platform/grpc turns an error into that status in one place.

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
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type DomainStatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/**
 * Base of every typed error. The message is what the caller reads in the
 * status details, so it names the thing and says what would be valid.
 */
export abstract class DomainError extends Error {
  abstract readonly code: DomainStatusCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field is missing or malformed. The message becomes "<field>: <message>". */
export class InvalidArgumentError extends DomainError {
  readonly code = StatusCode.INVALID_ARGUMENT;

  constructor(
    /** The request field at fault, in proto spelling ("item.price.amount_minor", "ids[2]"). */
    readonly field: string,
    /** What is wrong and what would be valid. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${reason}`, options);
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
