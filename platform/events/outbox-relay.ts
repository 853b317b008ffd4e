// The outbox relay: claims batches of unpublished rows, publishes them with
// confirms, and marks them published. Several relays (one per service
// instance) share an outbox without blocking one another, because claims skip
// rows another relay holds. Publishing is at-least-once: a relay that dies
// after the broker confirmed but before marking the row lets another publish
// it again once the claim expires; consumers' inboxes absorb that duplicate.
//
// An event the broker hands back as unroutable (a required event no queue is
// bound for; notices are not published mandatory, see event-delivery.ts) is
// retried a few times, since its consumer may just not have declared its
// queue yet, and then parked: marked parked_at, logged at error with the row
// and the number of parked rows, skipped by every relay until an operator
// replays it (`npm run mel -- outbox replay <service>`). Published rows are
// deleted in batches once older than the retention.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { createWakeableLoop } from "../process/index.js";
import { type AnyKysely, type DialectKind, dialectOf } from "../sql/index.js";
import { observeOutbox } from "../telemetry/index.js";
import { errorMessage } from "./connection.js";
import { PublishError } from "./errors.js";
import type { EventBus } from "./event-bus.js";
import { pruneInbox } from "./inbox.js";
import { defaultOutboxRetentionMs } from "./messaging-config.js";
import {
  claimOutboxBatch,
  countParkedOutboxRows,
  deletePublishedOutboxRows,
  markOutboxFailed,
  markOutboxParked,
  markOutboxPublished,
  type OutboxRow,
} from "./outbox.js";

export interface OutboxRelayOptions {
  db: AnyKysely;
  bus: Pick<EventBus, "publishEncoded">;
  logger: Logger;
  /** Default: read from `db`. */
  dialect?: DialectKind;
  /** Names this relay in claimed_by. Default: a new UUID. */
  relayId?: string;
  /** Rows claimed and published per round. Default 100. */
  batchSize?: number;
  /** Fallback poll when nobody calls notify(). Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long a claim holds; keep it well above the publish timeout. Default 60 s. */
  claimTtlMs?: number;
  /** Back-off after a failed publish: initial, doubled per attempt, capped. Defaults 1 s and 60 s. */
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Published rows older than this are deleted (MEL_<SERVICE>_OUTBOX_RETENTION). Default 7 days. */
  retentionMs?: number;
  /** Published rows deleted per statement while pruning. Default 1000. */
  pruneBatchSize?: number;
  /**
   * Attempts after which an event that is still unroutable is parked instead
   * of retried. Default 5 (with the default back-off, about 15 s: time for a
   * consumer that starts after this service to declare its queue).
   */
  unroutableAttempts?: number;
  /**
   * Inbox rows (events this service's consumers handled) older than this are
   * deleted: a duplicate of an event is not expected later than that. Default
   * 14 days, longer than the outbox's so a redelivery of anything still
   * retained on either side is recognised.
   */
  inboxRetentionMs?: number;
  /** How often old outbox and inbox rows are deleted. Default 10 minutes. */
  cleanupIntervalMs?: number;
}

export interface OutboxRelay {
  /** Starts the publish loop (idempotent). */
  start(): void;
  /** Wakes the loop now: call it after committing a transaction that added to the outbox. */
  notify(): void;
  /** Claims and publishes one batch; returns the number of rows published. For tests and tools. */
  publishBatch(): Promise<number>;
  /** Finishes the batch in progress and stops; pending rows stay for the next start. */
  stop(): Promise<void>;
}

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, bus, logger } = options;
  const dialect = options.dialect ?? dialectOf(db);
  const relayId = options.relayId ?? randomUUID();
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const claimTtlMs = options.claimTtlMs ?? 60_000;
  const retryInitialDelayMs = options.retryInitialDelayMs ?? 1000;
  const retryMaxDelayMs = options.retryMaxDelayMs ?? 60_000;
  const retentionMs = options.retentionMs ?? defaultOutboxRetentionMs;
  const pruneBatchSize = options.pruneBatchSize ?? 1000;
  const unroutableAttempts = options.unroutableAttempts ?? 5;
  const inboxRetentionMs = options.inboxRetentionMs ?? 14 * 24 * 60 * 60 * 1000;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 10 * 60 * 1000;

  let lastCleanup = 0;

  const retryDelay = (attempts: number) => Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** Math.max(0, attempts));

  async function runRound(): Promise<{ claimed: number; published: number }> {
    const now = new Date();
    const rows = await claimOutboxBatch(db, { relayId, batchSize, now, claimedUntil: new Date(now.getTime() + claimTtlMs) }, dialect);
    if (rows.length === 0) return { claimed: 0, published: 0 };
    const outcomes = await Promise.allSettled(
      rows.map((row) =>
        bus.publishEncoded({
          eventId: row.id,
          type: row.event_type,
          body: row.payload,
          correlationId: row.correlation_id ?? undefined,
          traceparent: row.traceparent ?? undefined,
          occurredAt: new Date(row.created_at),
        }),
      ),
    );
    const published: string[] = [];
    const retried: Array<{ row: OutboxRow; error: string }> = [];
    const parked: Array<{ row: OutboxRow; error: string }> = [];
    outcomes.forEach((outcome, index) => {
      const row = rows[index] as OutboxRow;
      if (outcome.status === "fulfilled") {
        published.push(row.id);
        return;
      }
      // Each row keeps its own error: the publisher's message names the event it is about.
      const failure = { row, error: errorMessage(outcome.reason) };
      const unroutable = outcome.reason instanceof PublishError && outcome.reason.reason === "unroutable";
      if (unroutable && row.attempts + 1 >= unroutableAttempts) parked.push(failure);
      else retried.push(failure);
    });
    const done = new Date();
    await markOutboxPublished(db, published, done);
    for (const { row, error } of retried) {
      await markOutboxFailed(db, [row.id], row.attempts, error, new Date(done.getTime() + retryDelay(row.attempts)));
    }
    const [firstRetried] = retried;
    if (firstRetried) {
      logger.warn(
        {
          relayId,
          events: retried.length,
          eventIds: retried.slice(0, 10).map(({ row }) => row.id),
          attempts: firstRetried.row.attempts + 1,
          err: firstRetried.error,
        },
        "outbox publish failed; will retry",
      );
    }
    for (const { row, error } of parked) await markOutboxParked(db, row.id, row.attempts, error, done);
    if (parked.length > 0) {
      const parkedTotal = await countParkedOutboxRows(db);
      for (const { row, error } of parked) {
        logger.error(
          { relayId, eventId: row.id, type: row.event_type, attempts: row.attempts + 1, parkedTotal, err: error },
          "outbox event parked: no queue is bound for it; bind its consumer, then npm run mel -- outbox replay",
        );
      }
    }
    return { claimed: rows.length, published: published.length };
  }

  async function cleanupIfDue(): Promise<void> {
    if (Date.now() - lastCleanup < cleanupIntervalMs) return;
    lastCleanup = Date.now();
    const cutoff = new Date(Date.now() - retentionMs);
    let deleted = 0;
    for (;;) {
      const batch = await deletePublishedOutboxRows(db, cutoff, pruneBatchSize, dialect);
      deleted += batch;
      if (batch < pruneBatchSize) break;
    }
    if (deleted > 0) logger.info({ relayId, deleted }, "deleted old published outbox rows");
    // The relay runs wherever the messaging tables are, so it keeps the inbox from growing forever too.
    const forgotten = await pruneInbox(db, new Date(Date.now() - inboxRetentionMs));
    if (forgotten > 0) logger.info({ relayId, forgotten }, "deleted old inbox rows");
  }

  const loop = createWakeableLoop({
    async round() {
      const { claimed, published } = await runRound();
      await cleanupIfDue();
      if (published > 0) logger.debug({ relayId, published }, "outbox batch published");
      // A full batch means more may be waiting: go again without sleeping.
      return claimed === batchSize ? 0 : pollIntervalMs;
    },
    // The database is unreachable or a statement failed: the loop tries again later, slower each time.
    onError: (error) => logger.error({ relayId, err: errorMessage(error) }, "outbox relay round failed"),
    retryInitialDelayMs,
    retryMaxDelayMs,
  });

  let unobserve: (() => void) | undefined;
  return {
    start() {
      unobserve ??= observeOutbox(db, (error) => logger.warn({ relayId, err: errorMessage(error) }, "outbox metrics could not be read"));
      loop.start();
    },
    notify: loop.wake,
    publishBatch: async () => (await runRound()).published,
    async stop() {
      unobserve?.();
      unobserve = undefined;
      await loop.stop();
    },
  };
}
