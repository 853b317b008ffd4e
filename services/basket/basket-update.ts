// Optimistic concurrency for basket documents: read, compute the new state
// with the rules in basket.ts, write it only if nobody changed the document
// meanwhile (the revision read is in the update filter), and otherwise start
// over from a fresh read. A lost update is impossible: a write based on a stale
// read matches no document. After a bounded number of lost races the caller
// gets ABORTED and may retry the whole call.
import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError } from "../../platform/errors/index.js";
import type { Basket, BasketLine } from "./basket.js";
import { documentToBasket, lineToFields } from "./basket.mapper.js";
import type { BasketDb } from "./basket.model.js";
import { findBasketDocument, insertBasketDocument, updateBasket } from "./basket.repository.js";

export interface WriteRetry {
  /** Attempts before ABORTED (MEL_BASKET_WRITE_ATTEMPTS). */
  maxAttempts: number;
  /** Back-off after a lost race: a random wait up to base × 2^(attempt-1), capped (full jitter, so racing writers spread out). */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultWriteRetry: WriteRetry = { maxAttempts: 60, baseDelayMs: 2, maxDelayMs: 100 };

/** What an attempt returns when its conditional write matched no document. */
export const lostRace = Symbol("lost race");

/** Runs `attempt` until it returns something other than lostRace, at most retry.maxAttempts times. */
export async function retryOnConflict<T>(what: string, retry: WriteRetry, attempt: (attemptNumber: number) => Promise<T | typeof lostRace>): Promise<T> {
  for (let attemptNumber = 1; attemptNumber <= retry.maxAttempts; attemptNumber++) {
    const outcome = await attempt(attemptNumber);
    if (outcome !== lostRace) return outcome;
    if (attemptNumber < retry.maxAttempts) {
      await sleep(Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attemptNumber - 1)));
    }
  }
  throw new AbortedError(`${what}: the basket was changed concurrently ${retry.maxAttempts} times in a row; read it again and retry`);
}

/**
 * Changes the buyer's lines with optimistic concurrency. `change` gets the
 * basket as read and returns the new lines, or undefined to leave it as it is
 * (nothing is written). It may be called more than once, with fresher baskets,
 * so it must have no side effects beyond reads. Resolves with the basket as written.
 */
export async function changeBasketLines(
  db: BasketDb,
  buyerId: string,
  what: string,
  change: (basket: Basket) => Promise<BasketLine[] | undefined> | BasketLine[] | undefined,
  options: { retry: WriteRetry; now: () => Date },
): Promise<Basket> {
  return retryOnConflict(what, options.retry, async () => {
    const document = await findBasketDocument(db, buyerId);
    const basket = documentToBasket(document, buyerId);
    const lines = await change(basket);
    if (lines === undefined) return basket;
    const now = options.now();
    const fields = lines.map(lineToFields);
    const written = document
      ? await updateBasket(db, buyerId, document.revision, { lines: fields }, now)
      : await insertBasketDocument(db, buyerId, fields, now);
    if (!written) return lostRace;
    return { buyerId, lines, version: basket.version + 1, updatedAt: now };
  });
}
