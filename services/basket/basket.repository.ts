// Reads and writes of basket documents and the inbox: plain functions taking
// the models first. Every write to a basket document is conditional on the
// revision the writer read and reports whether it won; callers retry
// (basket-update.ts). Only single-document writes are used: FerretDB v1, like
// any MongoDB without a replica set, has no multi-document transactions.
//
// On MongoDB the revision in the update filter is enough: the server matches
// and changes the document atomically. FerretDB v1 does not, so there a writer
// first claims the next revision (platform/mongo's write claims).
//
// Every function here turns a store that cannot be reached, or that failed in
// a way a retry may get past, into UnavailableError (UNAVAILABLE), so callers
// see that the basket store is down rather than an internal error.
import { randomUUID } from "node:crypto";
import mongoose from "mongoose";
import { UnavailableError } from "../../platform/errors/index.js";
import { writeClaims } from "../../platform/mongo/index.js";
import { bytesOf } from "./basket.mapper.js";
import type {
  BasketDb,
  BasketDocument,
  BasketLineFields,
  CheckoutFields,
  InboxDocument,
  OutboxEntryFields,
  ReturnedOrderFields,
  VoucherFields,
} from "./basket.model.js";

function isDuplicateKey(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 11000;
}

// The driver mongoose runs on, so instanceof sees the classes its errors are made from.
const { MongoError, MongoNetworkError, MongoServerSelectionError } = mongoose.mongo;

/** Labels the server and the driver put on failures that the same operation may get past later. */
const transientErrorLabels = ["RetryableWriteError", "TransientTransactionError"] as const;

/**
 * True when `error` means the store could not be reached (no server to select,
 * a connection refused, reset or timed out) or failed transiently, rather than
 * refusing the operation itself (a duplicate key, a bad update).
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  return error instanceof MongoError && transientErrorLabels.some((label) => error.hasErrorLabel(label));
}

/** Runs one store operation, turning an unreachable or transiently failing store into UNAVAILABLE. */
async function store<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (!isStoreUnavailable(error)) throw error;
    // The driver's own message (addresses, socket errors) stays in `cause` for the logs, not for buyers.
    throw new UnavailableError(
      "the basket store is unavailable right now, so the basket cannot be read or changed; try again shortly (GetBasket shows whether a change in flight was saved)",
      { cause: error },
    );
  }
}

export async function findBasketDocument(db: BasketDb, buyerId: string): Promise<BasketDocument | undefined> {
  return (await store(() => db.baskets.findById(buyerId).lean<BasketDocument>().exec())) ?? undefined;
}

/** Creates the buyer's document at revision and version 1; false when another writer created it first. */
export async function insertBasketDocument(
  db: BasketDb,
  buyerId: string,
  lines: BasketLineFields[],
  now: Date,
  voucher: { voucher?: VoucherFields | null; voucherRemovedReason?: string | null; returnedOrders?: ReturnedOrderFields[] } = {},
): Promise<boolean> {
  try {
    await store(() =>
      db.baskets.create({ _id: buyerId, revision: 1, version: 1, lines, ...voucher, updatedAt: now, checkouts: [], outbox: [], outboxPending: false }),
    );
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}

/** The fields one write replaces; omitted ones stay as they are. */
export interface BasketWrite {
  /** New lines: the basket's version goes up and updatedAt is set. */
  lines?: BasketLineFields[];
  /** The applied voucher (null: none); like lines, a change the buyer sees (version goes up). */
  voucher?: VoucherFields | null;
  /** Why the basket removed the voucher (null: clear it). */
  voucherRemovedReason?: string | null;
  checkouts?: CheckoutFields[];
  /** The whole list of cancelled orders given back. */
  returnedOrders?: ReturnedOrderFields[];
  /** The whole outbox; outboxPending follows from it. */
  outbox?: OutboxEntryFields[];
  outboxClaimedUntil?: Date | null;
}

/** Writes `write` if the document is still at `expectedRevision`; false when another writer got there first. */
export async function updateBasket(db: BasketDb, buyerId: string, expectedRevision: number, write: BasketWrite, now: Date): Promise<boolean> {
  const claims = db.writeClaims ? writeClaims(db.writeClaims, { run: store, onAbandoned: db.onAbandonedClaim }) : undefined;
  const claim = claims ? await claims.claim({ buyerId, revision: expectedRevision + 1 }) : undefined;
  if (claim === null) return false;
  try {
    // Too late to write safely: the caller reads the basket again and retries (the claim is released below).
    if (claim !== undefined && !claims?.inTime(claim)) return false;
    const set: Record<string, unknown> = {};
    const visible = write.lines !== undefined || write.voucher !== undefined;
    if (write.lines) Object.assign(set, { lines: write.lines });
    if (write.voucher !== undefined) set.voucher = write.voucher;
    if (write.voucherRemovedReason !== undefined) set.voucherRemovedReason = write.voucherRemovedReason;
    if (visible) set.updatedAt = now;
    if (write.checkouts) set.checkouts = write.checkouts;
    if (write.returnedOrders) set.returnedOrders = write.returnedOrders;
    if (write.outbox) {
      // Mongoose casts Buffers, not the Uint8Arrays of new entries or the BSON Binary of entries read back.
      const outbox = write.outbox.map((entry) => ({ ...entry, payload: Buffer.from(bytesOf(entry.payload)) }));
      Object.assign(set, { outbox, outboxPending: outbox.some((entry) => !entry.sentAt) });
    }
    if (write.outboxClaimedUntil !== undefined) set.outboxClaimedUntil = write.outboxClaimedUntil;
    const result = await store(() =>
      db.baskets.updateOne({ _id: buyerId, revision: expectedRevision }, { $set: set, $inc: visible ? { revision: 1, version: 1 } : { revision: 1 } }).exec(),
    );
    return result.matchedCount === 1;
  } finally {
    // Released once the write is done, so a writer still holding an older read
    // can claim this revision only after the document has moved past it.
    if (claim && claims) await claims.release(claim);
  }
}

/** Baskets with unsent outbox entries that no relay holds a live claim on. */
export async function findBasketsWithPendingOutbox(db: BasketDb, now: Date, limit: number): Promise<BasketDocument[]> {
  return store(() =>
    db.baskets
      .find({ outboxPending: true, $or: [{ outboxClaimedUntil: null }, { outboxClaimedUntil: { $lte: now } }] })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<BasketDocument[]>()
      .exec(),
  );
}

/** Buyer ids (ascending, after `afterBuyerId`) whose basket has a line for `productId`. */
export async function findBuyersHoldingProduct(db: BasketDb, productId: string, afterBuyerId: string | undefined, limit: number): Promise<string[]> {
  const filter = afterBuyerId === undefined ? { "lines.productId": productId } : { "lines.productId": productId, _id: { $gt: afterBuyerId } };
  const rows = await store(() => db.baskets.find(filter).select({ _id: 1 }).sort({ _id: 1 }).limit(limit).lean<Array<{ _id: string }>>().exec());
  return rows.map((row) => row._id);
}

/** What one delivery found when it tried to claim an event for a consumer. */
export type EventClaim = { outcome: "claimed"; claimId: string } | { outcome: "handled" } | { outcome: "held"; claimedUntil: Date };

/**
 * Claims (eventId, consumer) for one delivery, before its handler runs. The
 * claim is an insert under the inbox's unique index, atomic on every server
 * (FerretDB v1 included), so two deliveries of one event never both claim it.
 * A claim whose lease ran out was left by a handler that died: it is deleted
 * (only if still the same, expired claim) and claimed afresh.
 */
export async function claimEvent(db: BasketDb, eventId: string, consumer: string, now: Date, leaseMs: number): Promise<EventClaim> {
  const claimId = randomUUID();
  for (;;) {
    try {
      await store(() => db.inbox.create({ eventId, consumer, claimId, claimedUntil: new Date(now.getTime() + leaseMs) }));
      return { outcome: "claimed", claimId };
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const existing = await store(() => db.inbox.findOne({ eventId, consumer }).lean<InboxDocument>().exec());
    if (existing === null) continue; // released between the insert and the read: claim again
    if (existing.handledAt) return { outcome: "handled" };
    if (existing.claimedUntil && existing.claimedUntil > now) return { outcome: "held", claimedUntil: existing.claimedUntil };
    const removed = await store(() =>
      db.inbox.deleteOne({ eventId, consumer, claimId: existing.claimId ?? null, handledAt: null, claimedUntil: { $lte: now } }).exec(),
    );
    // Another delivery took the expired claim over first: report it as held by that one.
    if (removed.deletedCount === 0) {
      const current = await store(() => db.inbox.findOne({ eventId, consumer }).lean<InboxDocument>().exec());
      if (current?.handledAt) return { outcome: "handled" };
      if (current?.claimedUntil && current.claimedUntil > now) return { outcome: "held", claimedUntil: current.claimedUntil };
    }
  }
}

/** Extends a claim's lease; false when the claim is no longer this delivery's. */
export async function renewEventClaim(db: BasketDb, eventId: string, consumer: string, claimId: string, claimedUntil: Date): Promise<boolean> {
  const result = await store(() => db.inbox.updateOne({ eventId, consumer, claimId, handledAt: null }, { $set: { claimedUntil } }).exec());
  return result.matchedCount === 1;
}

/** Marks a claimed event handled; false when the claim is no longer this delivery's. */
export async function completeEventClaim(db: BasketDb, eventId: string, consumer: string, claimId: string, now: Date): Promise<boolean> {
  const result = await store(() => db.inbox.updateOne({ eventId, consumer, claimId }, { $set: { handledAt: now } }).exec());
  return result.matchedCount === 1;
}

/** Gives a claim up after its handler failed, so the retried delivery can run the handler again. */
export async function releaseEventClaim(db: BasketDb, eventId: string, consumer: string, claimId: string): Promise<void> {
  await store(() => db.inbox.deleteOne({ eventId, consumer, claimId, handledAt: null }).exec());
}

/**
 * Forgets events handled before `cutoff`, and claims whose lease ended before
 * it (their handler died and the event never came back). FerretDB v1 has no
 * TTL indexes, so this runs on a schedule.
 */
export async function pruneBasketInbox(db: BasketDb, cutoff: Date): Promise<number> {
  const handled = await store(() => db.inbox.deleteMany({ handledAt: { $lt: cutoff } }).exec());
  const abandoned = await store(() => db.inbox.deleteMany({ handledAt: null, claimedUntil: { $lt: cutoff } }).exec());
  return handled.deletedCount + abandoned.deletedCount;
}
