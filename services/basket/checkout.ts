// Checkout rules: a valid request (request id, address), the record that makes
// a retried checkout return the first result, the units a checkout holds until
// its order starts, and how long records are kept.
// No I/O: basket.grpc.ts prices the lines and writes the record, the basket's
// new lines and the UserCheckoutAccepted outbox entry in one document update.
import { FailedPreconditionError, InvalidArgumentError } from "../../platform/errors/index.js";
import type { ItemQuantity, Money } from "./basket.js";

export interface Address {
  street: string;
  city: string;
  state: string;
  country: string;
  zipCode: string;
}

/** What a checkout left in the basket document, keyed by its request id. */
export interface CheckoutRecord {
  requestId: string;
  orderId: string;
  total: Money;
  acceptedAt: Date;
  /** The units that went into the order: OrderStarted removes exactly these. */
  lines: ItemQuantity[];
  /** Set when OrderStarted removed the lines, so a repeated event removes nothing more. */
  orderStartedAt?: Date | undefined;
  /** Set when ordering rejected the checkout (CheckoutRejected): no order will come, its lines are free again. */
  rejectedAt?: Date | undefined;
  /** Ordering's reason, told to a retry of this checkout. */
  rejectionReason?: string | undefined;
  /** The voucher the checkout carried; OrderStarted takes it off the basket. */
  voucherCode?: string | undefined;
}

export interface CheckoutRetention {
  /** A retry with the same request id after this long places a new order. */
  maxAgeMs: number;
  /** Most records kept per basket (the newest). */
  maxRecords: number;
}

export const defaultCheckoutRetention: CheckoutRetention = { maxAgeMs: 30 * 24 * 60 * 60 * 1000, maxRecords: 50 };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const addressFieldMaxLength = 200;

/** The request id, lower-cased so that one UUID in either case is one checkout. */
export function validateRequestId(requestId: string): string {
  if (requestId.trim() === "") throw new InvalidArgumentError("request_id", "is required: a UUID you choose, reused when you retry this checkout");
  if (!uuidPattern.test(requestId.trim()))
    throw new InvalidArgumentError("request_id", `must be a UUID like 3f2b8c1e-9d4a-4f7b-8a6e-2c1d0e9f8a7b (got "${requestId.slice(0, 60)}")`);
  return requestId.trim().toLowerCase();
}

const addressFields: ReadonlyArray<{ key: keyof Address; field: string; required: boolean }> = [
  { key: "street", field: "address.street", required: true },
  { key: "city", field: "address.city", required: true },
  // Not every country has states or provinces.
  { key: "state", field: "address.state", required: false },
  { key: "country", field: "address.country", required: true },
  { key: "zipCode", field: "address.zip_code", required: true },
];

/** Checks every field of the delivery address; returns it trimmed. */
export function validateAddress(address: Address | undefined): Address {
  if (!address) throw new InvalidArgumentError("address", "is required: street, city, state, country and zip_code");
  const trimmed = { ...address };
  for (const { key, field, required } of addressFields) {
    const value = address[key].trim();
    if (required && value === "") throw new InvalidArgumentError(field, "is required");
    if (value.length > addressFieldMaxLength) throw new InvalidArgumentError(field, `must be at most ${addressFieldMaxLength} characters`);
    trimmed[key] = value;
  }
  return trimmed;
}

export function findCheckout(records: readonly CheckoutRecord[], requestId: string): CheckoutRecord | undefined {
  return records.find((record) => record.requestId === requestId);
}

/**
 * True while the checkout's order has not started: its lines are still in the
 * basket (OrderStarted removes them) but they are spoken for, so another
 * checkout (a second tab, a retry that lost its request id) must not order
 * them again.
 */
export function isAwaitingOrder(record: CheckoutRecord): boolean {
  return record.orderStartedAt === undefined && record.rejectedAt === undefined;
}

/** A retry of a checkout ordering rejected: it fails with ordering's reason, so the buyer knows no order came of it. */
export function refuseRejectedCheckout(record: CheckoutRecord): void {
  if (record.rejectedAt === undefined) return;
  throw new FailedPreconditionError(
    `checkout ${record.requestId} was rejected and made no order (${record.rejectionReason ?? "no reason given"}); check out again with a new request_id`,
  );
}

/** The units that checkouts awaiting their order hold, summed per product. */
export function unitsAwaitingOrder(records: readonly CheckoutRecord[]): ItemQuantity[] {
  const units = new Map<string, number>();
  for (const record of records.filter(isAwaitingOrder)) {
    for (const line of record.lines) units.set(line.productId, (units.get(line.productId) ?? 0) + line.quantity);
  }
  return [...units].map(([productId, quantity]) => ({ productId, quantity }));
}

/** The newest checkout still awaiting its order: what a checkout of nothing but its lines is answered with. */
export function newestAwaitingOrder(records: readonly CheckoutRecord[]): CheckoutRecord | undefined {
  return records
    .filter(isAwaitingOrder)
    .sort((a, b) => a.acceptedAt.getTime() - b.acceptedAt.getTime())
    .at(-1);
}

/**
 * Drops records past the retention, keeping at most the newest `maxRecords`
 * of those whose order started. Records awaiting their order are kept until
 * they age out: dropping one early would let its lines be ordered twice.
 */
export function pruneCheckouts(records: readonly CheckoutRecord[], now: Date, retention: CheckoutRetention): CheckoutRecord[] {
  const cutoff = now.getTime() - retention.maxAgeMs;
  const recent = records.filter((record) => record.acceptedAt.getTime() >= cutoff).sort((a, b) => a.acceptedAt.getTime() - b.acceptedAt.getTime());
  const started = new Set(recent.filter((record) => !isAwaitingOrder(record)).slice(-retention.maxRecords));
  return recent.filter((record) => isAwaitingOrder(record) || started.has(record));
}
