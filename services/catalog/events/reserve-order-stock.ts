// Reserving an order's stock: every line or none, inside the caller's transaction.
import type { Kysely } from "kysely";
import type { CatalogDatabase } from "../item.table.js";
import { mergeStockLines, type ReservationOutcome, type StockLine, type StockShortage, unreservableLines } from "../stock-reservation.js";
import { availableUnits, findReservations, insertReservations, reserveUnits, returnReservedUnits } from "../stock-reservation.repository.js";

/**
 * Tries each line with a conditional UPDATE (available_stock >= units). If any
 * line is short, the lines already taken are put back in the same transaction,
 * so the order holds nothing, and every short line is reported. When all lines
 * fit, a reservation row per product records what the order holds.
 *
 * "already-reserved" means this order holds a reservation from an earlier
 * event (ordering re-sent the request under a new event id): nothing is taken twice.
 */
export async function reserveOrderStock(
  trx: Kysely<CatalogDatabase>,
  orderId: string,
  lines: readonly StockLine[],
  now: Date,
): Promise<ReservationOutcome | { kind: "already-reserved" }> {
  if ((await findReservations(trx, orderId)).length > 0) return { kind: "already-reserved" };
  if (lines.length === 0) return { kind: "rejected", shortages: [] };
  const unreservable = unreservableLines(lines);
  if (unreservable.length > 0) return { kind: "rejected", shortages: unreservable };

  const merged = mergeStockLines(lines);
  const taken: StockLine[] = [];
  const shortages: StockShortage[] = [];
  for (const line of merged) {
    if (await reserveUnits(trx, line.productId, line.units, now)) {
      taken.push(line);
    } else {
      shortages.push({ productId: line.productId, requestedUnits: line.units, availableUnits: (await availableUnits(trx, line.productId)) ?? 0 });
    }
  }
  if (shortages.length > 0) {
    for (const line of taken) await returnReservedUnits(trx, line.productId, line.units, now);
    return { kind: "rejected", shortages };
  }
  await insertReservations(trx, orderId, merged, now);
  return { kind: "confirmed", lines: merged };
}
