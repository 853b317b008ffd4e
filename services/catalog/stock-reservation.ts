// Stock held for orders. A reservation row per (order, product) records what an
// order took out of available stock, so payment turns exactly that into a sale
// and cancellation gives exactly that back, whatever the later events carry.
// No I/O here.

export interface StockLine {
  productId: string;
  units: number;
}

/** reserved → sold (order paid) or reserved → released (order cancelled); both final. */
export type ReservationStatus = "reserved" | "sold" | "released";

export interface StockShortage {
  productId: string;
  requestedUnits: number;
  /** Units available when the reservation was tried (0 for unknown items). */
  availableUnits: number;
}

/** What reserving an order's lines came to. */
export type ReservationOutcome = { kind: "confirmed"; lines: StockLine[] } | { kind: "rejected"; shortages: StockShortage[] };

/**
 * One line per product (an order may list a product twice), in product id order.
 * Taking row locks in one global order is what keeps concurrent multi-line
 * reservations from deadlocking each other.
 */
export function mergeStockLines(lines: readonly StockLine[]): StockLine[] {
  const units = new Map<string, number>();
  for (const line of lines) units.set(line.productId, (units.get(line.productId) ?? 0) + line.units);
  return [...units]
    .map(([productId, total]) => ({ productId, units: total }))
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

/**
 * Lines no stock could ever satisfy (no product id, zero or negative units).
 * An order carrying one is rejected outright rather than retried forever.
 */
export function unreservableLines(lines: readonly StockLine[]): StockShortage[] {
  return lines
    .filter((line) => line.productId === "" || !Number.isInteger(line.units) || line.units <= 0)
    .map((line) => ({ productId: line.productId, requestedUnits: line.units, availableUnits: 0 }));
}
