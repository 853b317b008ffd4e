// Which level a finished call or request is logged at. A line per successful
// call costs a busy service a large share of its CPU and tells nobody
// anything, so those go at debug; what someone will look for stays visible
// at the default level: failures, and calls slower than the threshold.
import type { Level } from "pino";

/** How a call ended, as far as logging cares. */
export type CallOutcome =
  /** Answered as asked. */
  | "ok"
  /** Refused because of the request or the caller (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, HTTP 4xx…). */
  | "rejected"
  /** Failed for a reason that may pass (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED). */
  | "transient"
  /** Failed because of a fault on our side (INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, HTTP 5xx). */
  | "fault";

/**
 * error for faults, warn for transient failures and for any call that took
 * at least `slowCallMs`, info for rejected calls, debug for the rest.
 */
export function callLogLevel(outcome: CallOutcome, durationMs: number, slowCallMs: number): Level {
  if (outcome === "fault") return "error";
  if (outcome === "transient" || durationMs >= slowCallMs) return "warn";
  return outcome === "rejected" ? "info" : "debug";
}
