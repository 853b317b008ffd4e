// The one rule for a failed call to another service: the callee's status is
// never handed to our caller as if it were ours. An upstream's INVALID_ARGUMENT
// or UNAUTHENTICATED says something about OUR request to it, not about our
// caller's request, so it becomes INTERNAL; an upstream that is down or slow
// becomes UNAVAILABLE; a call we gave up because our own caller went away is
// that caller's CANCELLED (or DEADLINE_EXCEEDED). The original status is
// logged with the call's correlation id and trace, and kept on the error for
// a service that deliberately translates a specific upstream answer.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { DeadlineExceededError, DomainError, type DomainErrorOptions, type DomainStatusCode, ErrorReason, StatusCode } from "../errors/index.js";
import type { CallContext } from "./call-context.js";
import { propagationMarginMs } from "./client-interceptors.js";
import { errorInfoOf, isStatusCarrying, readStatusDetails, statusName } from "./status.js";

/** What the upstream answered, as it answered it. */
export interface UpstreamStatus {
  code: GrpcStatus;
  details: string;
  /** Its ErrorInfo.reason, when it sent one. */
  reason: string | undefined;
}

/** A call to another service failed; `upstreamStatus` is the callee's own answer. */
export class UpstreamFailureError extends DomainError {
  constructor(
    readonly code: DomainStatusCode,
    message: string,
    /** Short name of the service called ("catalog"). */
    readonly upstream: string,
    /** The full method called ("/mel.catalog.v1.CatalogService/GetItemsByIds"). */
    readonly upstreamMethod: string,
    readonly upstreamStatus: UpstreamStatus,
    options?: DomainErrorOptions,
  ) {
    super(message, options);
  }
}

/** Upstream statuses meaning "not now": the same call may work later. */
const unavailableCodes: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.CANCELLED,
]);

/**
 * The error our caller sees when a call to `upstream` failed with `error`
 * while serving `ctx`. Without an incoming call (a script, a test, a
 * background job) there is no caller to mislead and the error is returned as
 * is; so is an error that carries no gRPC status (a bug, mapped to INTERNAL).
 */
export function upstreamFailure(upstream: string, method: string, error: unknown, ctx: CallContext | undefined): unknown {
  if (ctx === undefined || !isStatusCarrying(error)) return error;
  // Our caller cancelled, or our deadline passed: the answer is about our call, not the upstream.
  if (ctx.signal.aborted && ctx.signal.reason instanceof DomainError) return ctx.signal.reason;
  // The outgoing call ran out of the time our caller gave us (its deadline is
  // ours, less the margin), a moment before our own timer says so.
  if (error.code === GrpcStatus.DEADLINE_EXCEEDED && ctx.deadline !== undefined && Date.now() >= ctx.deadline.getTime() - propagationMarginMs) {
    return new DeadlineExceededError(`the deadline of ${ctx.method} passed while it waited for ${upstream}`, { cause: error });
  }
  const upstreamStatus: UpstreamStatus = {
    code: error.code,
    details: error.details,
    reason: errorInfoOf(readStatusDetails(error.metadata))?.reason,
  };
  ctx.log.warn(
    {
      upstream,
      upstreamMethod: method,
      upstreamCode: statusName(error.code),
      upstreamDetails: error.details,
      ...(upstreamStatus.reason === undefined ? {} : { upstreamReason: upstreamStatus.reason }),
      ...(ctx.traceparent === undefined ? {} : { traceparent: ctx.traceparent }),
    },
    `call to ${upstream} failed`,
  );
  const metadata = { upstream };
  if (unavailableCodes.has(error.code)) {
    return new UpstreamFailureError(StatusCode.UNAVAILABLE, `${upstream} is unavailable; try again shortly`, upstream, method, upstreamStatus, {
      reason: ErrorReason.UPSTREAM_UNAVAILABLE,
      metadata,
      cause: error,
    });
  }
  return new UpstreamFailureError(StatusCode.INTERNAL, `${upstream} failed`, upstream, method, upstreamStatus, {
    reason: ErrorReason.UPSTREAM_FAILED,
    metadata,
    cause: error,
  });
}
