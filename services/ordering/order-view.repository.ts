// Reads and writes of the order read model: plain functions taking the models
// first. The one write, upsertOrderView, applies the version rule: a copy is
// replaced only by a higher version of its order, so events delivered twice,
// late or out of order, and a rebuild racing the projection, all end with the
// newest version. Only single-document writes are used (FerretDB v1, like any
// MongoDB without a replica set, has no multi-document transactions).
//
// On MongoDB the version in the update filter is enough: the server matches
// and changes the document atomically. FerretDB v1 does not, so there a writer
// first claims the version it replaces (platform/mongo's write claims), which
// makes it the only writer moving the copy off it.
//
// A store that cannot be reached becomes UnavailableError (UNAVAILABLE).
import { UnavailableError } from "../../platform/errors/index.js";
import { isDuplicateKey, isStoreUnavailable, writeClaims } from "../../platform/mongo/index.js";
import type { OrderStatus } from "./order.js";
import type { OrderCursor } from "./order.repository.js";
import type { OrderReadModel, OrderViewDocument } from "./order-view.model.js";

/** Writes tried before an order's copy that keeps changing under the writer fails (the bus retries the event). */
const maxWriteAttempts = 50;

async function store<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (!isStoreUnavailable(error)) throw error;
    // The driver's own message (addresses, socket errors) stays in `cause` for the logs.
    throw new UnavailableError("the order read model is unavailable right now; try again shortly", { cause: error });
  }
}

/** What a write did: replaced or created the copy, or left a copy at the same or a newer version alone. */
export type ViewWrite = "applied" | "stale";

/** Writes `view` unless the read model holds its order at `view.version` or newer. */
export async function upsertOrderView(readModel: OrderReadModel, view: OrderViewDocument): Promise<ViewWrite> {
  const { views } = readModel;
  for (let attempt = 1; attempt <= maxWriteAttempts; attempt++) {
    const current = await store(() => views.findById(view._id).select({ version: 1 }).lean<{ version: number }>().exec());
    if (current !== null && current.version >= view.version) return "stale";
    if (current === null) {
      try {
        await store(() => views.create(view));
        return "applied";
      } catch (error) {
        // Another writer created it first: read again and compare versions.
        if (isDuplicateKey(error)) continue;
        throw error;
      }
    }
    const claims = readModel.writeClaims ? writeClaims(readModel.writeClaims, { run: store }) : undefined;
    const claim = claims ? await claims.claim({ orderId: view._id, version: current.version }) : undefined;
    // Another writer moved the copy off this version, or gave up: decide anew.
    if (claim === null) continue;
    try {
      // Too late to write safely with this claim: read again.
      if (claim !== undefined && !claims?.inTime(claim)) continue;
      const { _id, ...fields } = view;
      const result = await store(() => views.updateOne({ _id, version: current.version }, { $set: fields }).exec());
      if (result.matchedCount === 1) return "applied";
    } finally {
      // Released once the write is done, so a writer still holding the older read finds the copy moved on.
      if (claim && claims) await claims.release(claim);
    }
  }
  throw new Error(`the read model's copy of order ${view._id} kept changing while version ${view.version} was written; it will be retried`);
}

export async function findOrderView(readModel: OrderReadModel, id: string): Promise<OrderViewDocument | undefined> {
  return (await store(() => readModel.views.findById(id).lean<OrderViewDocument>().exec())) ?? undefined;
}

/** What SearchOrders filters on; absent means any. */
export interface OrderViewFilter {
  buyerId?: string;
  status?: OrderStatus;
  /** Matched in lower case. */
  buyerEmail?: string;
  /** Placed at or after. */
  placedFrom?: Date;
  /** Placed before. */
  placedUntil?: Date;
}

/** Up to `limit` copies matching `filter`, newest first by (createTime, id), strictly after `cursor` when given. */
export async function findOrderViews(readModel: OrderReadModel, filter: OrderViewFilter, limit: number, cursor?: OrderCursor): Promise<OrderViewDocument[]> {
  const conditions: Record<string, unknown>[] = [];
  if (filter.buyerId !== undefined) conditions.push({ buyerId: filter.buyerId });
  if (filter.status !== undefined) conditions.push({ status: filter.status });
  if (filter.buyerEmail !== undefined) conditions.push({ buyerEmailKey: filter.buyerEmail.toLowerCase() });
  if (filter.placedFrom !== undefined) conditions.push({ createTime: { $gte: filter.placedFrom } });
  if (filter.placedUntil !== undefined) conditions.push({ createTime: { $lt: filter.placedUntil } });
  if (cursor !== undefined) {
    const at = new Date(cursor.createTime);
    conditions.push({ $or: [{ createTime: { $lt: at } }, { createTime: at, _id: { $lt: cursor.id } }] });
  }
  const query = conditions.length === 0 ? {} : conditions.length === 1 ? (conditions[0] as Record<string, unknown>) : { $and: conditions };
  return store(() => readModel.views.find(query).sort({ createTime: -1, _id: -1 }).limit(limit).lean<OrderViewDocument[]>().exec());
}

/** Statuses whose orders count as sales: the payment was authorised (and a cancelled order never was). */
export const salesStatuses: readonly OrderStatus[] = ["PAID", "SHIPPED"];

export interface CurrencyDaySales {
  day: string;
  currencyCode: string;
  orderCount: number;
  revenueMinor: number;
}

/** Orders sold and their revenue per (UTC day placed, currency) from `fromDay` to `untilDay` (YYYY-MM-DD, both included), by day then currency. */
export async function salesPerDayAndCurrency(readModel: OrderReadModel, fromDay: string, untilDay: string): Promise<CurrencyDaySales[]> {
  // Only the stages and accumulators FerretDB v1 has ($match, $group, $sum,
  // $sort), and one accumulator per $group: FerretDB v1 computes only the
  // first of several (the others come back 0). So the count and the revenue
  // are two pipelines over the same match, joined here.
  const match = { $match: { day: { $gte: fromDay, $lte: untilDay }, status: { $in: [...salesStatuses] } } };
  const key = { day: "$day", currencyCode: "$currencyCode" };
  type Row = { _id: { day: string; currencyCode: string }; value: number };
  const [counts, revenues] = await Promise.all([
    store(() => readModel.views.aggregate<Row>([match, { $group: { _id: key, value: { $sum: 1 } } }]).exec()),
    store(() => readModel.views.aggregate<Row>([match, { $group: { _id: key, value: { $sum: "$totalMinor" } } }]).exec()),
  ]);
  const keyOf = (row: Row) => `${row._id.day} ${row._id.currencyCode}`;
  const revenueByKey = new Map(revenues.map((row) => [keyOf(row), Number(row.value)]));
  return counts
    .map((row) => ({
      day: row._id.day,
      currencyCode: row._id.currencyCode,
      orderCount: Number(row.value),
      revenueMinor: revenueByKey.get(keyOf(row)) ?? 0,
    }))
    .sort((a, b) => (a.day === b.day ? a.currencyCode.localeCompare(b.currencyCode) : a.day < b.day ? -1 : 1));
}
