// The basket's outbox relay. Checkout writes UserCheckoutAccepted into the
// buyer's document (its outbox array) in the same update as the checkout
// record; this relay publishes unsent entries with confirms and marks them
// sent. It is the document-store twin of platform/events' SQL relay (which
// claims rows with SKIP LOCKED): here a relay claims a whole basket's outbox
// by a conditional write on the document's revision, so relays of several
// basket instances do not publish the same basket's entries at once. Publishing is
// at-least-once (a relay that dies after the confirm and before the mark lets
// the claim expire and another publish again); consumers' inboxes absorb that.
import { randomUUID } from "node:crypto";
import type { EventBus } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import { backOff, createWakeableLoop } from "../../platform/process/index.js";
import { bytesOf } from "./basket.mapper.js";
import type { BasketDb, BasketDocument, OutboxEntryFields } from "./basket.model.js";
import { findBasketDocument, findBasketsWithPendingOutbox, pruneBasketInbox, updateBasket } from "./basket.repository.js";
import { lostRace, retryOnConflict, type WriteRetry } from "./basket-update.js";

export interface BasketOutboxRelayOptions {
  db: BasketDb;
  bus: Pick<EventBus, "publishEncoded">;
  logger: Logger;
  /** Retry of the relay's own conditional writes (a buyer may change the basket meanwhile). */
  writeRetry: WriteRetry;
  /** Baskets handled per round. Default 50. */
  batchSize?: number;
  /** Fallback poll when nobody calls notify(). Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long a claim holds; keep it well above the publish timeout. Default 60 s. */
  claimTtlMs?: number;
  /** Back-off after a failed round: initial, doubled per failure, capped. Defaults 1 s and 60 s. */
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Sent entries older than this are dropped from the document. Default 1 hour. */
  sentRetentionMs?: number;
  /**
   * Events the basket's handlers processed longer ago than this are dropped
   * from its inbox: no duplicate is expected that late. Default 14 days.
   */
  inboxRetentionMs?: number;
  /** How often the inbox is pruned. Default 10 minutes. */
  cleanupIntervalMs?: number;
  now?: () => Date;
}

export interface BasketOutboxRelay {
  /** Starts the publish loop (idempotent). */
  start(): void;
  /** Wakes the loop now: call it after a checkout wrote to an outbox. */
  notify(): void;
  /** Publishes one round; returns the number of events published. For tests and tools. */
  publishBatch(): Promise<number>;
  /** Finishes the round in progress and stops; unsent entries wait for the next start. */
  stop(): Promise<void>;
}

interface RoundOutcome {
  published: number;
  /** Some publish failed: back off before the next round. */
  failed: boolean;
  /** The batch was full: more baskets may be waiting. */
  full: boolean;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createBasketOutboxRelay(options: BasketOutboxRelayOptions): BasketOutboxRelay {
  const { db, bus, logger, writeRetry } = options;
  const relayId = randomUUID();
  const batchSize = options.batchSize ?? 50;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const claimTtlMs = options.claimTtlMs ?? 60_000;
  const retryInitialDelayMs = options.retryInitialDelayMs ?? 1000;
  const retryMaxDelayMs = options.retryMaxDelayMs ?? 60_000;
  const sentRetentionMs = options.sentRetentionMs ?? 60 * 60 * 1000;
  const inboxRetentionMs = options.inboxRetentionMs ?? 14 * 24 * 60 * 60 * 1000;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 10 * 60 * 1000;
  let lastCleanup = 0;
  const now = options.now ?? (() => new Date());

  /** Publishes one basket's unsent entries in order, stopping at the first failure. */
  async function publishBasket(document: BasketDocument): Promise<{ published: number; failed: boolean }> {
    const claimed = await updateBasket(db, document._id, document.revision, { outboxClaimedUntil: new Date(now().getTime() + claimTtlMs) }, now());
    // Another relay claimed it, or the buyer changed the basket: the next round reads it afresh.
    if (!claimed) return { published: 0, failed: false };
    const sent = new Set<string>();
    let failure: { eventId: string; error: string } | undefined;
    for (const entry of document.outbox.filter((candidate) => !candidate.sentAt)) {
      try {
        await bus.publishEncoded({
          eventId: entry.eventId,
          type: entry.type,
          body: bytesOf(entry.payload),
          correlationId: entry.correlationId ?? undefined,
          traceparent: entry.traceparent ?? undefined,
          occurredAt: entry.createdAt,
        });
        sent.add(entry.eventId);
      } catch (error) {
        failure = { eventId: entry.eventId, error: errorMessage(error) };
        break;
      }
    }
    await markOutbox(document._id, sent, failure);
    if (failure) logger.warn({ relayId, buyerId: document._id, eventId: failure.eventId, err: failure.error }, "basket outbox publish failed; will retry");
    return { published: sent.size, failed: failure !== undefined };
  }

  /** Marks published entries sent, counts the failed attempt, prunes old sent entries and releases the claim. */
  async function markOutbox(buyerId: string, sent: ReadonlySet<string>, failure: { eventId: string; error: string } | undefined): Promise<void> {
    await retryOnConflict(`marking basket ${buyerId}'s outbox`, writeRetry, async () => {
      const current = await findBasketDocument(db, buyerId);
      if (!current) return undefined;
      const markedAt = now();
      const cutoff = markedAt.getTime() - sentRetentionMs;
      const outbox: OutboxEntryFields[] = current.outbox
        .map((entry) => {
          if (sent.has(entry.eventId) && !entry.sentAt) return { ...entry, sentAt: markedAt, lastError: null };
          if (failure?.eventId === entry.eventId) return { ...entry, attempts: entry.attempts + 1, lastError: failure.error.slice(0, 1000) };
          return entry;
        })
        .filter((entry) => !entry.sentAt || entry.sentAt.getTime() >= cutoff);
      return (await updateBasket(db, buyerId, current.revision, { outbox, outboxClaimedUntil: null }, markedAt)) ? undefined : lostRace;
    });
  }

  async function runRound(): Promise<RoundOutcome> {
    const documents = await findBasketsWithPendingOutbox(db, now(), batchSize);
    const outcomes = await Promise.all(documents.map((document) => publishBasket(document)));
    return {
      published: outcomes.reduce((sum, outcome) => sum + outcome.published, 0),
      failed: outcomes.some((outcome) => outcome.failed),
      full: documents.length === batchSize,
    };
  }

  // The relay is the basket's one background loop, so it also keeps the inbox from growing forever.
  async function cleanupIfDue(): Promise<void> {
    if (now().getTime() - lastCleanup < cleanupIntervalMs) return;
    lastCleanup = now().getTime();
    const forgotten = await pruneBasketInbox(db, new Date(lastCleanup - inboxRetentionMs));
    if (forgotten > 0) logger.info({ relayId, forgotten }, "deleted old basket inbox entries");
  }

  const loop = createWakeableLoop({
    async round() {
      const outcome = await runRound();
      await cleanupIfDue();
      if (outcome.published > 0) logger.debug({ relayId, published: outcome.published }, "basket outbox events published");
      if (outcome.failed) return backOff;
      // A full batch means more may be waiting: go again at once.
      return outcome.full ? 0 : pollIntervalMs;
    },
    // MongoDB unreachable or a write failed: the loop tries again later, slower each time.
    // The whole error: a store outage's driver reason is its cause.
    onError: (error) => logger.error({ relayId, err: error }, "basket outbox relay round failed"),
    retryInitialDelayMs,
    retryMaxDelayMs,
  });

  return {
    start: loop.start,
    notify: loop.wake,
    publishBatch: async () => (await runRound()).published,
    stop: loop.stop,
  };
}
