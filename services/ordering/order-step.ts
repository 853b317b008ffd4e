// The order's scheduled steps: work the order waits for that no event
// triggers, stored on the order row (pending_step, step_due_at) so a restart
// loses none of it. No I/O here; order-step-runner.ts runs them.
import type { OrderStatus } from "./order.js";

export const orderSteps = ["await-validation", "authorize-payment"] as const;
/**
 * - "await-validation": the grace period after SUBMITTED is over → AWAITING_VALIDATION.
 * - "authorize-payment": stock is confirmed → ask the payment gateway.
 */
export type OrderStep = (typeof orderSteps)[number];

export interface ScheduledStep {
  step: OrderStep;
  dueAt: Date;
}

export interface StepTimings {
  /** MEL_ORDERING_GRACE_PERIOD: how long a buyer has to change their mind before stock is reserved. */
  gracePeriodMs: number;
}

/** The step a status waits for once it is reached at `now`; undefined when it waits for an event or nothing. */
export function stepAfter(status: OrderStatus, now: Date, timings: StepTimings): ScheduledStep | undefined {
  switch (status) {
    case "SUBMITTED":
      return { step: "await-validation", dueAt: new Date(now.getTime() + timings.gracePeriodMs) };
    case "STOCK_CONFIRMED":
      return { step: "authorize-payment", dueAt: now };
    default:
      return undefined;
  }
}

/** Back-off before retrying a step that failed `attempts` times: doubled each time, capped. */
export function stepRetryDelayMs(attempts: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempts - 1));
}
