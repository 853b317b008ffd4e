// Optimistic concurrency for basket documents: read, compute the new state
// with the rules in basket.ts, write it only if nobody changed the document
// meanwhile (the revision read is in the update filter), and otherwise start
// over from a fresh read. A lost update is impossible: a write based on a stale
// read matches no document. After a bounded number of lost races the caller
// gets ABORTED and may retry the whole call.
import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, UnavailableError } from "../../platform/errors/index.js";
import type { AppliedVoucher, Basket, BasketLine } from "./basket.js";
import { documentToBasket, lineToFields, voucherToFields } from "./basket.mapper.js";
import type { BasketDb } from "./basket.model.js";
import { type BasketWrite, findBasketDocument, insertBasketDocument, updateBasket } from "./basket.repository.js";
import type { VoucherCheck } from "./voucher-check.js";

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

/** What one change writes: new lines and/or the voucher (null removes it); omitted parts stay. */
export interface BasketChange {
  lines?: BasketLine[];
  voucher?: AppliedVoucher | null;
  /** Why the basket removed the voucher, for the page; null clears an earlier reason. */
  voucherRemovedReason?: string | null;
}

/**
 * Changes the buyer's basket with optimistic concurrency. `change` gets the
 * basket as read and returns what to write, or undefined to leave it as it is
 * (nothing is written). It may be called more than once, with fresher
 * baskets, so it must have no side effects beyond reads. With `recheckVoucher`,
 * a basket whose lines change keeps its voucher only if ordering still says
 * it may be used; otherwise the voucher is removed with ordering's reason.
 * Resolves with the basket as written.
 */
export async function changeBasket(
  db: BasketDb,
  buyerId: string,
  what: string,
  change: (basket: Basket) => Promise<BasketChange | undefined> | BasketChange | undefined,
  options: { retry: WriteRetry; now: () => Date; recheckVoucher?: VoucherCheck | undefined },
): Promise<Basket> {
  return retryOnConflict(what, options.retry, async () => {
    const document = await findBasketDocument(db, buyerId);
    const basket = documentToBasket(document, buyerId);
    let wanted = await change(basket);
    if (wanted === undefined) return basket;
    if (wanted.lines !== undefined && wanted.voucher === undefined && basket.voucher !== undefined && options.recheckVoucher) {
      try {
        wanted = { ...wanted, ...(await recheckedVoucher(basket.voucher, options.recheckVoucher)) };
      } catch (error) {
        // Ordering being away is no reason to lose the buyer's voucher: it redeems (or refuses) it at checkout anyway.
        if (!(error instanceof UnavailableError)) throw error;
      }
    }
    const now = options.now();
    const write: BasketWrite = {
      ...(wanted.lines !== undefined ? { lines: wanted.lines.map(lineToFields) } : {}),
      ...(wanted.voucher !== undefined ? { voucher: wanted.voucher && voucherToFields(wanted.voucher) } : {}),
      ...(wanted.voucherRemovedReason !== undefined ? { voucherRemovedReason: wanted.voucherRemovedReason } : {}),
    };
    const written = document
      ? await updateBasket(db, buyerId, document.revision, write, now)
      : await insertBasketDocument(db, buyerId, write.lines ?? [], now, write);
    if (!written) return lostRace;
    return {
      buyerId,
      lines: wanted.lines ?? basket.lines,
      voucher: wanted.voucher === undefined ? basket.voucher : (wanted.voucher ?? undefined),
      voucherRemovedReason: wanted.voucherRemovedReason === undefined ? basket.voucherRemovedReason : (wanted.voucherRemovedReason ?? undefined),
      version: basket.version + 1,
      updatedAt: now,
    };
  });
}

/** The voucher as ordering sees it now: kept (with its current terms) or removed with the reason. */
export async function recheckedVoucher(voucher: AppliedVoucher, check: VoucherCheck): Promise<Pick<BasketChange, "voucher" | "voucherRemovedReason">> {
  const verdict = await check(voucher.code);
  return verdict.usable ? { voucher: verdict.voucher } : { voucher: null, voucherRemovedReason: `${verdict.reason}: it was removed from your basket` };
}

/** changeBasket for a change of the lines alone. */
export function changeBasketLines(
  db: BasketDb,
  buyerId: string,
  what: string,
  change: (basket: Basket) => Promise<BasketLine[] | undefined> | BasketLine[] | undefined,
  options: { retry: WriteRetry; now: () => Date; recheckVoucher?: VoucherCheck | undefined },
): Promise<Basket> {
  return changeBasket(
    db,
    buyerId,
    what,
    async (basket) => {
      const lines = await change(basket);
      return lines === undefined ? undefined : { lines };
    },
    options,
  );
}
