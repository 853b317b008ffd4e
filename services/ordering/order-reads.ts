// Ordering's query side: what GetOrder, ListOrders, SearchOrders and
// GetSalesPerDay answer with, read from the order read model (MongoDB, kept by
// the OrderViewChanged projection) rather than from the orders' SQL tables.
//
// The read model follows the write side within moments, so a list may miss a
// change made a moment ago. GetOrder must not: the storefront shows an order
// right after placing or cancelling it. It compares the copy's version with
// the order's version on the write side (one primary-key read) and answers
// from the write side when the copy is missing or older, then brings the copy
// up to that version, so whatever GetOrder has shown a list shows too.
import type { Kysely } from "kysely";
import type { Order as ProtoOrder } from "../../gen/mel/ordering/v1/ordering.js";
import type { Logger } from "../../platform/log/index.js";
import { orderToProto } from "./order.mapper.js";
import { findOrder, findOrderVersion } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { viewFromProto, viewToProto } from "./order-view.mapper.js";
import type { OrderReadModel, OrderViewDocument } from "./order-view.model.js";
import { findOrderView, salesPerDayAndCurrency, upsertOrderView } from "./order-view.repository.js";

/** Which side answered a read: the response header mel-read-source carries it. */
export type ReadSource = "projection" | "write-side";

export const readSourceHeader = "mel-read-source";

export interface OrderReadDeps {
  db: Kysely<OrderingDatabase>;
  readModel: OrderReadModel;
  logger: Logger;
  now: () => Date;
}

export interface OrderRead {
  order: ProtoOrder;
  source: ReadSource;
}

/** Order `id` as it is now, or undefined when there is none. */
export async function readCurrentOrder({ db, readModel, logger, now }: OrderReadDeps, id: string): Promise<OrderRead | undefined> {
  const [view, version] = await Promise.all([
    // GetOrder keeps working from the write side while the read model is away.
    findOrderView(readModel, id).catch((error: unknown): OrderViewDocument | undefined => {
      logger.warn({ orderId: id, err: error }, "the order read model could not be read; GetOrder answers from the write side");
      return undefined;
    }),
    findOrderVersion(db, id),
  ]);
  if (version === undefined) return undefined;
  if (view !== undefined && view.version >= version) return { order: viewToProto(view), source: "projection" };
  const order = await findOrder(db, id);
  if (order === undefined) return undefined;
  const proto = orderToProto(order);
  // The same version-guarded write the projection makes: a newer copy written meanwhile stays.
  await upsertOrderView(readModel, viewFromProto(proto, order.version, now())).catch((error: unknown) =>
    logger.warn({ orderId: id, version: order.version, err: error }, "could not bring the read model's copy of the order up to date"),
  );
  return { order: proto, source: "write-side" };
}

export interface DaySales {
  day: string;
  orderCount: number;
  byCurrency: Array<{ currencyCode: string; orderCount: number; revenueMinor: number }>;
}

const dayMs = 24 * 60 * 60 * 1000;

/** Every day from `fromDay` to `untilDay` (YYYY-MM-DD, both included), with its sales; days without any hold zero. */
export async function salesPerDay(readModel: OrderReadModel, fromDay: string, untilDay: string): Promise<DaySales[]> {
  const rows = await salesPerDayAndCurrency(readModel, fromDay, untilDay);
  const days: DaySales[] = [];
  const byDay = new Map<string, DaySales>();
  for (let time = Date.parse(`${fromDay}T00:00:00Z`), last = Date.parse(`${untilDay}T00:00:00Z`); time <= last; time += dayMs) {
    const entry: DaySales = { day: new Date(time).toISOString().slice(0, 10), orderCount: 0, byCurrency: [] };
    days.push(entry);
    byDay.set(entry.day, entry);
  }
  for (const row of rows) {
    const entry = byDay.get(row.day);
    if (entry === undefined) continue;
    entry.orderCount += row.orderCount;
    entry.byCurrency.push({ currencyCode: row.currencyCode, orderCount: row.orderCount, revenueMinor: row.revenueMinor });
  }
  return days;
}
