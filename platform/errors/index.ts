// Typed domain errors: what domain and service code throw when a request cannot
// be served, each standing for one gRPC status code and carrying a stable ErrorReason
// (proto/mel/errors/v1/error_reason.proto) that programs act on.
// Must never: import gRPC or any transport, log, or decide how an error is
// shown to a caller. platform/grpc is the one place that turns these into
// statuses (and anything else into INTERNAL).

export type { DomainErrorOptions, DomainStatusCode } from "./domain-errors.js";
export {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  DomainError,
  ErrorReason,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  StatusCode,
  UnauthenticatedError,
  UnavailableError,
} from "./domain-errors.js";
