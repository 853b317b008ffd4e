// SQL for stock reservations. Every stock movement is one conditional UPDATE,
// so the guard (enough available units, a reservation still open) is checked by
// the database under the row lock, never read first and written later.
import type { Kysely } from "kysely";
import type { CatalogDatabase, StockReservationRow } from "./item.table.js";
import type { ReservationStatus, StockLine } from "./stock-reservation.js";

type Db = Kysely<CatalogDatabase>;

/** Takes units from available into reserved if at least that many are available. */
export async function reserveUnits(db: Db, productId: string, units: number, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("catalog_item")
    .set((eb) => ({
      available_stock: eb("available_stock", "-", units),
      reserved_stock: eb("reserved_stock", "+", units),
      update_time: now.toISOString(),
    }))
    .where("id", "=", productId)
    .where("available_stock", ">=", units)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Puts reserved units back into available (a cancelled order, or undoing a partial reservation). */
export async function returnReservedUnits(db: Db, productId: string, units: number, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("catalog_item")
    .set((eb) => ({
      available_stock: eb("available_stock", "+", units),
      reserved_stock: eb("reserved_stock", "-", units),
      update_time: now.toISOString(),
    }))
    .where("id", "=", productId)
    .where("reserved_stock", ">=", units)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Reserved units leave the warehouse: a paid order. */
export async function sellReservedUnits(db: Db, productId: string, units: number, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("catalog_item")
    .set((eb) => ({ reserved_stock: eb("reserved_stock", "-", units), update_time: now.toISOString() }))
    .where("id", "=", productId)
    .where("reserved_stock", ">=", units)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Available units of a product, undefined when it does not exist. */
export async function availableUnits(db: Db, productId: string): Promise<number | undefined> {
  const row = await db.selectFrom("catalog_item").select("available_stock").where("id", "=", productId).executeTakeFirst();
  return row?.available_stock;
}

export async function insertReservations(db: Db, orderId: string, lines: readonly StockLine[], now: Date): Promise<void> {
  if (lines.length === 0) return;
  await db
    .insertInto("stock_reservation")
    .values(
      lines.map((line) => ({
        order_id: orderId,
        product_id: line.productId,
        units: line.units,
        status: "reserved" as const,
        create_time: now.toISOString(),
        update_time: now.toISOString(),
      })),
    )
    .execute();
}

export async function findReservations(db: Db, orderId: string, status?: ReservationStatus): Promise<StockReservationRow[]> {
  let query = db.selectFrom("stock_reservation").selectAll().where("order_id", "=", orderId);
  if (status !== undefined) query = query.where("status", "=", status);
  return query.orderBy("product_id").execute();
}

/**
 * Closes one open reservation line (reserved → sold | released). False when it
 * was not open any more: the stock movement that goes with it must then be skipped.
 */
export async function closeReservation(db: Db, orderId: string, productId: string, to: Exclude<ReservationStatus, "reserved">, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("stock_reservation")
    .set({ status: to, update_time: now.toISOString() })
    .where("order_id", "=", orderId)
    .where("product_id", "=", productId)
    .where("status", "=", "reserved")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Settles every open reservation line of an order: "sold" takes the units out
 * of reserved stock, "released" puts them back into available stock. Lines
 * already settled are skipped, so settling twice changes nothing. Returns the
 * lines settled now.
 */
export async function settleReservations(db: Db, orderId: string, to: Exclude<ReservationStatus, "reserved">, now: Date): Promise<StockLine[]> {
  const settled: StockLine[] = [];
  // Product id order, like reservation, so concurrent settlements lock rows in the same order.
  for (const row of await findReservations(db, orderId, "reserved")) {
    if (!(await closeReservation(db, orderId, row.product_id, to, now))) continue;
    const moved = to === "sold" ? await sellReservedUnits(db, row.product_id, row.units, now) : await returnReservedUnits(db, row.product_id, row.units, now);
    if (!moved) {
      // A reservation row without its reserved units means stock was edited around the order flow.
      throw new Error(`catalog item ${row.product_id} has fewer reserved units than order ${orderId} holds (${row.units})`);
    }
    settled.push({ productId: row.product_id, units: row.units });
  }
  return settled;
}
