// The durable scheduler behind the order's steps (order-step.ts): steps live
// on the order rows, so a process that dies loses nothing; the runner finds
// due steps, claims each with a conditional update (one runner wins, even
// with several ordering instances), runs it, and reschedules it with back-off
// when it fails. A claim is a lease: if its runner dies, the step falls due
// again when the lease ends. Woken at once after a commit that scheduled
// something; otherwise it sleeps until the next due step or the poll interval.
// Hand-written because the schedule must share the orders' database and
// transactions, which no job-queue library does across SQLite, PostgreSQL and
// SQL Server.
import type { Kysely } from "kysely";
import type { Logger } from "../../platform/log/index.js";
import { createWakeableLoop } from "../../platform/process/index.js";
import { claimStep, findDueSteps, findStepAttempts, nextStepDueAt, rescheduleStep } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import type { OrderStep } from "./order-step.js";
import { stepRetryDelayMs } from "./order-step.js";

/** Runs one claimed step of one order; throws to have it retried later. */
export type StepHandler = (orderId: string) => Promise<void>;

export interface OrderStepRunnerOptions {
  db: Kysely<OrderingDatabase>;
  logger: Logger;
  handlers: Record<OrderStep, StepHandler>;
  /** Fallback poll when nothing wakes the runner. Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long a claim holds; must outlast a step (a payment call). Default 30 s. */
  leaseMs?: number;
  /** Steps taken per round. Default 50. */
  batchSize?: number;
  /** Steps run at once. Default 8. */
  concurrency?: number;
  /** Back-off after a failed step: initial, doubled per attempt, capped. Defaults 500 ms and 60 s. */
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  now?: () => Date;
}

export interface OrderStepRunner {
  start(): void;
  /** Looks for due steps now: call after committing a transaction that scheduled one. */
  wake(): void;
  /** Runs every step due now once; returns how many ran. For tests and tools. */
  runDueSteps(): Promise<number>;
  /** Finishes the steps in progress and stops; pending steps stay for the next start. */
  stop(): Promise<void>;
}

export function createOrderStepRunner(options: OrderStepRunnerOptions): OrderStepRunner {
  const { db, logger, handlers } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const leaseMs = options.leaseMs ?? 30_000;
  const batchSize = options.batchSize ?? 50;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const retryInitialDelayMs = options.retryInitialDelayMs ?? 500;
  const retryMaxDelayMs = options.retryMaxDelayMs ?? 60_000;
  const now = options.now ?? (() => new Date());

  async function runStep(orderId: string, step: OrderStep): Promise<boolean> {
    const claimedAt = now();
    if (!(await claimStep(db, orderId, step, claimedAt, new Date(claimedAt.getTime() + leaseMs)))) return false;
    try {
      await handlers[step](orderId);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const attempts = await findStepAttempts(db, orderId);
      const delayMs = stepRetryDelayMs(attempts, retryInitialDelayMs, retryMaxDelayMs);
      logger.warn({ orderId, step, attempts, retryInMs: delayMs, err: message }, "order step failed; retrying later");
      await rescheduleStep(db, orderId, step, new Date(now().getTime() + delayMs), message);
    }
    return true;
  }

  /** One round: the due steps of one batch, `concurrency` at a time. Returns how many were due and how many ran. */
  async function runRound(): Promise<{ due: number; ran: number }> {
    const due = await findDueSteps(db, now(), batchSize);
    let ran = 0;
    let next = 0;
    async function worker(): Promise<void> {
      while (next < due.length) {
        const { orderId, step } = due[next++] as (typeof due)[number];
        try {
          if (await runStep(orderId, step)) ran += 1;
        } catch (error) {
          // The claim or the reschedule itself failed (database trouble): the lease lets it run again later.
          logger.error({ orderId, step, err: error instanceof Error ? error.message : String(error) }, "order step could not be run");
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    return { due: due.length, ran };
  }

  const loop = createWakeableLoop({
    async round() {
      const { due } = await runRound();
      // A full batch means more may be waiting: go again without sleeping.
      if (due === batchSize) return 0;
      const nextDue = await nextStepDueAt(db, now());
      const untilNext = nextDue === undefined ? pollIntervalMs : nextDue.getTime() - now().getTime();
      return Math.max(1, Math.min(pollIntervalMs, untilNext));
    },
    onError: (error) => logger.error({ err: error instanceof Error ? error.message : String(error) }, "order step round failed"),
    retryInitialDelayMs,
    retryMaxDelayMs,
  });

  return {
    start: loop.start,
    wake: loop.wake,
    async runDueSteps() {
      return (await runRound()).ran;
    },
    stop: loop.stop,
  };
}
