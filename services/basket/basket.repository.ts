// Reads and writes of basket documents and the inbox: plain functions taking
// the models first. Every write to a basket document is conditional on the
// revision the writer read and reports whether it won; callers retry
// (basket-update.ts). Only single-document writes are used: FerretDB v1, like
// any MongoDB without a replica set, has no multi-document transactions.
//
// On MongoDB the revision in the update filter is enough: the server matches
// and changes the document atomically. FerretDB v1 reads the matching
// document and writes it back by _id in two steps, so there a writer first
// claims the next revision with an insert under a unique index (inserts are
// atomic there), which makes it the only writer of that revision.
import { bytesOf } from "./basket.mapper.js";
import type { BasketDb, BasketDocument, BasketLineFields, CheckoutFields, OutboxEntryFields } from "./basket.model.js";

/** A claim older than this was left by a writer that died between its claim and its write. */
const abandonedClaimMs = 5000;

function isDuplicateKey(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 11000;
}

export async function findBasketDocument(db: BasketDb, buyerId: string): Promise<BasketDocument | undefined> {
  return (await db.baskets.findById(buyerId).lean<BasketDocument>().exec()) ?? undefined;
}

/** Creates the buyer's document at revision and version 1; false when another writer created it first. */
export async function insertBasketDocument(db: BasketDb, buyerId: string, lines: BasketLineFields[], now: Date): Promise<boolean> {
  try {
    await db.baskets.create({ _id: buyerId, revision: 1, version: 1, lines, updatedAt: now, checkouts: [], outbox: [], outboxPending: false });
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
  checkouts?: CheckoutFields[];
  /** The whole outbox; outboxPending follows from it. */
  outbox?: OutboxEntryFields[];
  outboxClaimedUntil?: Date | null;
}

/** Writes `write` if the document is still at `expectedRevision`; false when another writer got there first. */
export async function updateBasket(db: BasketDb, buyerId: string, expectedRevision: number, write: BasketWrite, now: Date): Promise<boolean> {
  const claim = db.writeClaims ? await claimRevision(db, buyerId, expectedRevision + 1, now) : undefined;
  if (claim === null) return false;
  try {
    const set: Record<string, unknown> = {};
    if (write.lines) Object.assign(set, { lines: write.lines, updatedAt: now });
    if (write.checkouts) set.checkouts = write.checkouts;
    if (write.outbox) {
      // Mongoose casts Buffers, not the Uint8Arrays of new entries or the BSON Binary of entries read back.
      const outbox = write.outbox.map((entry) => ({ ...entry, payload: Buffer.from(bytesOf(entry.payload)) }));
      Object.assign(set, { outbox, outboxPending: outbox.some((entry) => !entry.sentAt) });
    }
    if (write.outboxClaimedUntil !== undefined) set.outboxClaimedUntil = write.outboxClaimedUntil;
    const result = await db.baskets
      .updateOne({ _id: buyerId, revision: expectedRevision }, { $set: set, $inc: write.lines ? { revision: 1, version: 1 } : { revision: 1 } })
      .exec();
    return result.matchedCount === 1;
  } finally {
    // Released once the write is done, so a writer still holding an older read
    // can claim this revision only after the document has moved past it.
    if (claim) await db.writeClaims!.deleteOne({ _id: claim }).exec();
  }
}

/** Inserts the claim on (buyerId, revision): its id, or null when another writer holds it. */
async function claimRevision(db: BasketDb, buyerId: string, revision: number, now: Date): Promise<unknown> {
  const claims = db.writeClaims!;
  try {
    return (await claims.create({ buyerId, revision, claimedAt: now }))._id;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
  // Deleted by its own id, so a writer that also saw it abandoned cannot delete a fresh claim.
  const held = await claims.findOne({ buyerId, revision }).lean().exec();
  if (held && held.claimedAt.getTime() < now.getTime() - abandonedClaimMs) await claims.deleteOne({ _id: held._id }).exec();
  return null;
}

/** Baskets with unsent outbox entries that no relay holds a live claim on. */
export async function findBasketsWithPendingOutbox(db: BasketDb, now: Date, limit: number): Promise<BasketDocument[]> {
  return db.baskets
    .find({ outboxPending: true, $or: [{ outboxClaimedUntil: null }, { outboxClaimedUntil: { $lte: now } }] })
    .sort({ _id: 1 })
    .limit(limit)
    .lean<BasketDocument[]>()
    .exec();
}

/** Buyer ids (ascending, after `afterBuyerId`) whose basket has a line for `productId`. */
export async function findBuyersHoldingProduct(db: BasketDb, productId: string, afterBuyerId: string | undefined, limit: number): Promise<string[]> {
  const filter = afterBuyerId === undefined ? { "lines.productId": productId } : { "lines.productId": productId, _id: { $gt: afterBuyerId } };
  const rows = await db.baskets.find(filter).select({ _id: 1 }).sort({ _id: 1 }).limit(limit).lean<Array<{ _id: string }>>().exec();
  return rows.map((row) => row._id);
}

export async function isEventHandled(db: BasketDb, eventId: string, consumer: string): Promise<boolean> {
  return (await db.inbox.exists({ eventId, consumer }).exec()) !== null;
}

/** Records the event as handled; a record already there (a concurrent duplicate) is fine. */
export async function recordEventHandled(db: BasketDb, eventId: string, consumer: string, now: Date): Promise<void> {
  try {
    await db.inbox.create({ eventId, consumer, handledAt: now });
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}
