// The basket's inbox: RabbitMQ delivers at least once, so each handler runs at
// most once per (event id, consumer), tracked in the basket_inbox collection
// under a unique index. MongoDB-protocol stores without a replica set (and
// FerretDB v1) have no multi-document transactions, so the inbox entry cannot
// be written atomically with a basket change. Instead a delivery claims the
// entry before its handler runs and marks it handled after:
// - a second delivery arriving while the first still runs (a redelivery after
//   a lost connection, a republish) waits for it, then finds the event handled.
//   Checking after the effect instead would let both apply, and a redelivered
//   price change could put back a price a newer event had replaced;
// - a handler that fails gives its claim up, so the retry runs it again;
// - a handler that dies leaves a claim whose lease runs out (it is renewed only
//   while the handler runs); the next delivery takes it over and runs the
//   handler again. Every basket handler is therefore also idempotent on its own
//   (a price already current changes nothing; a checkout record marked as
//   started is not applied twice).
import { setTimeout as sleep } from "node:timers/promises";
import type { EventHandler, EventMeta } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { BasketDb } from "./basket.model.js";
import { claimEvent, completeEventClaim, releaseEventClaim, renewEventClaim } from "./basket.repository.js";

export interface EventInboxOptions {
  logger: Logger;
  now: () => Date;
  /** How long a claim holds without renewal; renewed every third of it while the handler runs. Default 30 s. */
  leaseMs?: number;
  /** How often a delivery waiting on another's claim looks again. Default 50 ms. */
  waitPollMs?: number;
  /**
   * How long a delivery waits on another's claim before it fails and takes the
   * retry ladder. A holder renews its lease, so only a stuck handler (one that
   * never returns) keeps a claim this long. Default ten leases (5 min).
   */
  maxWaitMs?: number;
}

export function handleEventOnce<E>(
  db: BasketDb,
  consumer: string,
  handler: (event: E, meta: EventMeta) => Promise<void>,
  options: EventInboxOptions,
): EventHandler<E> {
  const { logger, now } = options;
  const leaseMs = options.leaseMs ?? 30_000;
  const waitPollMs = options.waitPollMs ?? 50;
  const maxWaitMs = options.maxWaitMs ?? 10 * leaseMs;

  async function claim(meta: EventMeta): Promise<string | undefined> {
    const waitingSince = Date.now();
    for (;;) {
      const found = await claimEvent(db, meta.eventId, consumer, now(), leaseMs);
      if (found.outcome === "claimed") return found.claimId;
      if (found.outcome === "handled") {
        logger.info({ consumer, eventId: meta.eventId, type: meta.type, redelivered: meta.redelivered }, "duplicate event ignored (already handled)");
        return undefined;
      }
      if (Date.now() - waitingSince >= maxWaitMs) {
        throw new Error(
          `event ${meta.eventId} (${meta.type}) is still being handled by another delivery for ${consumer} after ${maxWaitMs} ms; it will be retried`,
        );
      }
      await sleep(waitPollMs);
    }
  }

  return async (event, meta) => {
    const claimId = await claim(meta);
    if (claimId === undefined) return;
    let held = true;
    const renewal = setInterval(
      () => {
        renewEventClaim(db, meta.eventId, consumer, claimId, new Date(now().getTime() + leaseMs)).then(
          (stillHeld) => {
            if (!stillHeld && held)
              logger.warn({ consumer, eventId: meta.eventId }, "inbox claim lost while its handler ran; another delivery may apply the event too");
            held = stillHeld;
          },
          (error: unknown) => logger.warn({ consumer, eventId: meta.eventId, err: error }, "could not renew the inbox claim"),
        );
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
    try {
      await handler(event, meta);
    } catch (error) {
      clearInterval(renewal);
      // If the release fails too, the claim's lease runs out and a later delivery takes it over.
      await releaseEventClaim(db, meta.eventId, consumer, claimId).catch((releaseError: unknown) =>
        logger.warn({ consumer, eventId: meta.eventId, err: releaseError }, "could not release the inbox claim of a failed handler"),
      );
      throw error;
    }
    clearInterval(renewal);
    if (!(await completeEventClaim(db, meta.eventId, consumer, claimId, now()))) {
      logger.warn({ consumer, eventId: meta.eventId }, "event handled, but its inbox claim had been taken over meanwhile");
    }
  };
}
