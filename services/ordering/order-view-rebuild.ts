// Rebuilds the order read model from the write side while ordering keeps
// serving (`npm run mel -- projections rebuild orders`): pages through every
// order in SQL, newest first by (create_time, id), and writes each with the
// version rule the projection uses, so a copy the projection has already moved
// to a newer version stays, and a copy that is missing or behind is brought up
// to the version read. Orders placed after the rebuild started sort before its
// first page; the projection writes those.
import type { Kysely } from "kysely";
import { orderToProto } from "./order.mapper.js";
import { type OrderCursor, searchOrders } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { viewFromProto } from "./order-view.mapper.js";
import type { OrderReadModel } from "./order-view.model.js";
import { upsertOrderView } from "./order-view.repository.js";

export interface RebuildProgress {
  /** Orders looked at so far. */
  done: number;
  /** Orders on the write side when the rebuild started (later ones are the projection's). */
  total: number;
  /** Copies written (missing or older than the write side). */
  written: number;
  /** Copies already at that version or newer, left alone. */
  current: number;
}

export interface RebuildOptions {
  db: Kysely<OrderingDatabase>;
  readModel: OrderReadModel;
  /** Orders read per SQL query. Default 200. */
  pageSize?: number;
  /** Copies written at once. Default 8. */
  concurrency?: number;
  /** Called after each page. */
  onProgress?: (progress: RebuildProgress) => void;
  now?: () => Date;
}

export async function countOrders(db: Kysely<OrderingDatabase>): Promise<number> {
  const row = await db
    .selectFrom("orders")
    .select((eb) => eb.fn.countAll().as("count"))
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

/** Writes every order of the write side into the read model under the version rule; resolves with the tally. */
export async function rebuildOrderViews({
  db,
  readModel,
  pageSize = 200,
  concurrency = 8,
  onProgress,
  now = () => new Date(),
}: RebuildOptions): Promise<RebuildProgress> {
  const progress: RebuildProgress = { done: 0, total: await countOrders(db), written: 0, current: 0 };
  onProgress?.({ ...progress });
  let cursor: OrderCursor | undefined;
  for (;;) {
    const page = await searchOrders(db, undefined, pageSize, cursor);
    if (page.length === 0) break;
    for (let start = 0; start < page.length; start += concurrency) {
      const outcomes = await Promise.all(
        page.slice(start, start + concurrency).map((order) => upsertOrderView(readModel, viewFromProto(orderToProto(order), order.version, now()))),
      );
      for (const outcome of outcomes) progress[outcome === "applied" ? "written" : "current"] += 1;
    }
    progress.done += page.length;
    // Orders placed meanwhile never enter the pages, but the count started lower: keep done ≤ total for the bar.
    progress.total = Math.max(progress.total, progress.done);
    onProgress?.({ ...progress });
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) break;
    cursor = { createTime: last.createTime.toISOString(), id: last.id };
  }
  return progress;
}
