// grpc-js client interceptors that give every outgoing call the platform's
// treatment: a deadline (capped by the incoming call's), the caller's metadata
// carried on, cancellation when the incoming call goes away, its duration
// metric, and a circuit breaker per upstream. They sit above grpc-js's retry layer, so one logical
// call (with all its retry attempts) counts once for the breaker.
import { performance } from "node:perf_hooks";
import {
  status as GrpcStatus,
  InterceptingCall,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  type StatusObject,
} from "@grpc/grpc-js";
import { BrokenCircuitError, type CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import type { Logger } from "../log/index.js";
import { observeBreaker, recordClientCall } from "../telemetry/index.js";
import { authorizationKey, type CallContext, correlationIdKey, currentCallContext, traceparentKey, tracestateKey } from "./call-context.js";

/**
 * How much earlier than the incoming call's deadline an outgoing call must
 * end. grpc-timeout travels as a relative time rounded up to the millisecond,
 * so without a margin the next hop could compute a deadline a little past the
 * caller's; the margin also leaves the caller time to use the answer.
 */
export const propagationMarginMs = 5;

export interface CallPolicyOptions {
  /** Deadline in ms for a call to `path` when the caller gives none. */
  deadlineMsFor: (path: string) => number;
}

/**
 * Sets the deadline (the caller's explicit one, else the method's default,
 * never past the incoming call's deadline), copies authorization,
 * x-correlation-id, traceparent and tracestate from the incoming call when the
 * caller did not set them, and cancels the call when the incoming call is
 * cancelled. The incoming call is read from the AsyncLocalStorage at the moment
 * the call is made.
 */
export function createCallPolicyInterceptor({ deadlineMsFor }: CallPolicyOptions): Interceptor {
  return (options: InterceptorOptions, nextCall: NextCall) => {
    const incoming = currentCallContext();
    const path = options.method_definition.path;
    // An explicit Infinity ("no deadline") gets the default too: no call goes out without one.
    const explicit = options.deadline === undefined ? Number.NaN : deadlineTime(options.deadline);
    const own = Number.isFinite(explicit) ? explicit : Date.now() + deadlineMsFor(path);
    const budget = incoming?.deadline === undefined ? undefined : incoming.deadline.getTime() - propagationMarginMs;
    const deadline = new Date(budget === undefined ? own : Math.min(own, budget));
    const call: InterceptingCall = new InterceptingCall(nextCall({ ...options, deadline }), {
      start(metadata, _listener, next) {
        if (incoming) carryMetadata(incoming, metadata);
        const began = performance.now();
        const signal = incoming?.signal;
        const onAbort = () => call.cancelWithStatus(GrpcStatus.CANCELLED, `the incoming call ${incoming?.method} ended before this call to ${path} finished`);
        if (signal?.aborted) queueMicrotask(onAbort);
        else signal?.addEventListener("abort", onAbort, { once: true });
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            signal?.removeEventListener("abort", onAbort);
            recordClientCall(path, status.code, (performance.now() - began) / 1000);
            nextStatus(status);
          },
        });
      },
    });
    return call;
  };
}

function deadlineTime(deadline: Date | number): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

function carryMetadata(incoming: CallContext, outgoing: Metadata): void {
  const setIfMissing = (key: string, value: string | undefined) => {
    if (value !== undefined && value !== "" && outgoing.get(key).length === 0) outgoing.set(key, value);
  };
  const incomingValue = (key: string) => {
    const [value] = incoming.metadata.get(key);
    return typeof value === "string" ? value : undefined;
  };
  setIfMissing(authorizationKey, incomingValue(authorizationKey) ?? (incoming.principal ? `Bearer ${incoming.principal.token}` : undefined));
  setIfMissing(correlationIdKey, incoming.correlationId);
  setIfMissing(traceparentKey, incoming.traceparent);
  setIfMissing(tracestateKey, incomingValue(tracestateKey));
}

export interface BreakerOptions {
  /** Failed calls in a row that open the circuit. */
  consecutiveFailures: number;
  /** How long the circuit stays open before one probe call is let through. */
  halfOpenAfterMs: number;
}

export const defaultBreaker: BreakerOptions = { consecutiveFailures: 5, halfOpenAfterMs: 10_000 };

/**
 * Statuses that say the upstream itself is unwell: it cannot be reached or is
 * overloaded (UNAVAILABLE), it did not answer in time (DEADLINE_EXCEEDED), or it
 * failed while serving (INTERNAL, UNKNOWN, DATA_LOSS). Platform servers decode
 * requests themselves and answer an undecodable body INVALID_ARGUMENT (see
 * request-decoding.ts), so their INTERNAL is never a verdict on the caller's
 * input; an INTERNAL that grpc-js makes up on this side for a response it cannot
 * parse counts too: the upstream sent what its contract does not allow. One
 * made up for a request this side could not encode never left the process and
 * does not count (see countsAsUpstreamFailure).
 *
 * Never counted: answers about the caller's request (INVALID_ARGUMENT,
 * OUT_OF_RANGE, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED,
 * UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED), CANCELLED (the caller
 * gave up), and RESOURCE_EXHAUSTED, which is rate limiting or a quota: the
 * upstream is well and protecting itself, and opening the circuit would turn
 * one caller's excess into an outage for all.
 */
export const breakerFailureCodes: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DATA_LOSS,
]);

/**
 * Whether the call policy cut this call's deadline short to fit the incoming
 * call's remaining time (the deadline is then exactly that budget). Its
 * DEADLINE_EXCEEDED says the caller had little time left, not that the
 * upstream is slow, so the breaker does not count it.
 */
function cappedByIncomingDeadline(options: InterceptorOptions): boolean {
  const incoming = currentCallContext()?.deadline;
  if (incoming === undefined || options.deadline === undefined) return false;
  return deadlineTime(options.deadline) >= incoming.getTime() - propagationMarginMs;
}

// grpc-js's details for a request message its serializer threw on; it gives
// no other sign that the call ended before anything was sent.
const requestNotEncoded = "Request message serialization failure";

/** Whether `status` says the upstream is unwell; `capped`: see cappedByIncomingDeadline. */
function countsAsUpstreamFailure(status: StatusObject, capped: boolean): boolean {
  if (status.code === GrpcStatus.DEADLINE_EXCEEDED && capped) return false;
  if (status.code === GrpcStatus.INTERNAL && status.details.startsWith(requestNotEncoded)) return false;
  return breakerFailureCodes.has(status.code);
}

class UpstreamFailure extends Error {
  constructor(readonly status: StatusObject) {
    super(status.details);
  }
}

class CancelledBeforeStart extends Error {}

export interface UpstreamBreaker {
  readonly policy: CircuitBreakerPolicy;
  readonly interceptor: Interceptor;
}

/**
 * A cockatiel circuit breaker for one upstream as a client interceptor. While
 * open, calls end at once with UNAVAILABLE "<upstream> is unavailable: circuit
 * open after N failures" and never leave the process; after halfOpenAfterMs one
 * probe call goes through and its outcome closes or reopens the circuit.
 */
export function createBreakerInterceptor(upstream: string, options: BreakerOptions, logger: Logger): UpstreamBreaker {
  // Only upstream failures count; a call cancelled before it started is rethrown uncounted.
  const policy = circuitBreaker(
    handleWhen((error) => error instanceof UpstreamFailure),
    {
      halfOpenAfter: options.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.consecutiveFailures),
    },
  );
  policy.onBreak(() => logger.warn({ upstream, halfOpenAfterMs: options.halfOpenAfterMs }, `circuit to ${upstream} opened`));
  policy.onHalfOpen(() => logger.info({ upstream }, `circuit to ${upstream} half-open: probing`));
  policy.onReset(() => logger.info({ upstream }, `circuit to ${upstream} closed`));
  observeBreaker(upstream, policy);
  const openDetails = `${upstream} is unavailable: circuit open after ${options.consecutiveFailures} failures`;
  let probeOutstanding = false;

  const interceptor: Interceptor = (options, nextCall) => {
    const inner = nextCall(options);
    // Read now: the incoming call is the one current when this call is made.
    const capped = cappedByIncomingDeadline(options);
    // The call reaches `next` only once the breaker lets it through. Until then
    // the inner call has no listener: a cancel, a refusal or the deadline would
    // end it unheard, so this interceptor reports those statuses itself.
    let outer: InterceptingListener | undefined;
    let started = false;
    let reported = false;
    let deadlineGuard: NodeJS.Timeout | undefined;
    const report = (code: GrpcStatus, details: string) => {
      if (reported) return;
      reported = true;
      clearTimeout(deadlineGuard);
      // Releases the unstarted call's deadline timer; it has no listener, so nothing is reported twice.
      if (!started) inner.cancelWithStatus(code, details);
      // Never from inside start(): makeUnaryRequest attaches the 'status'
      // listener of the call it returns only after start() has run, and a
      // status emitted before that is lost: the caller would wait forever.
      process.nextTick(() => outer?.onReceiveStatus({ code, details, metadata: new Metadata() }));
    };
    return new InterceptingCall(inner, {
      start(metadata, listener, next) {
        outer = listener;
        // While the probe is out, cockatiel would park other calls until it
        // ends (past their own deadlines); they fail fast like an open circuit instead.
        if (probeOutstanding) return report(GrpcStatus.UNAVAILABLE, openDetails);
        policy
          .execute(
            () =>
              new Promise<void>((resolve, reject) => {
                if (reported) return reject(new CancelledBeforeStart()); // neither a success nor a failure of the upstream
                started = true;
                clearTimeout(deadlineGuard);
                // cockatiel runs the probe before it marks the circuit half-open, so a call let through while not closed is the probe.
                const probe = policy.state !== CircuitState.Closed;
                if (probe) probeOutstanding = true;
                next(metadata, {
                  onReceiveStatus(status, nextStatus) {
                    if (probe) probeOutstanding = false;
                    if (countsAsUpstreamFailure(status, capped)) reject(new UpstreamFailure(status));
                    else resolve();
                    reported = true;
                    nextStatus(status);
                  },
                });
              }),
          )
          .catch((error: unknown) => {
            if (error instanceof UpstreamFailure || error instanceof CancelledBeforeStart) return; // the caller already has its status
            if (error instanceof BrokenCircuitError) return report(GrpcStatus.UNAVAILABLE, openDetails);
            logger.error({ err: error, upstream }, "circuit breaker failed unexpectedly");
            report(GrpcStatus.INTERNAL, "internal error");
          });
        // A call cockatiel holds back (it waits for a half-open probe to end)
        // still ends at its deadline.
        const waitMs = options.deadline === undefined ? Number.POSITIVE_INFINITY : deadlineTime(options.deadline) - Date.now();
        if (!started && !reported && Number.isFinite(waitMs)) {
          deadlineGuard = setTimeout(
            () => report(GrpcStatus.DEADLINE_EXCEEDED, `the deadline passed while the call to ${upstream} waited for the circuit breaker`),
            Math.max(0, waitMs),
          );
          deadlineGuard.unref();
        }
      },
      cancel(next) {
        next();
        if (!started) report(GrpcStatus.CANCELLED, "Cancelled on client");
      },
    });
  };
  return { policy, interceptor };
}
