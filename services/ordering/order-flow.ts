// The order's state changes as transactions: each one reads the order, asks
// the rules in order.ts, writes the change on the version it read, and puts
// the event that announces it in the outbox, all in the caller's
// transaction. Handlers, RPCs and scheduled steps all change orders through
// here, so no path can skip a guard or forget an event.
import type { Kysely } from "kysely";
import {
  CheckoutRejected,
  OrderCancellationCause,
  OrderStarted,
  OrderStatusChangedToAwaitingValidation,
  OrderStatusChangedToCancelled,
  OrderStatusChangedToPaid,
  OrderStatusChangedToShipped,
  OrderStatusChangedToStockConfirmed,
  OrderViewChanged,
} from "../../gen/mel/events/v1/ordering_events.js";
import { AbortedError, NotFoundError } from "../../platform/errors/index.js";
import { addToOutbox } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import { type Order, type OrderStatus, stockItemsOf, subtotalOf, type Transition, transition, withDiscount } from "./order.js";
import { orderToProto } from "./order.mapper.js";
import { findOrderRecord, insertOrder, type OrderRecord, type OrderTrace, updateOrderStatus } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { type StepTimings, stepAfter } from "./order-step.js";
import { validateVoucherCode, voucherDiscount, voucherUsability } from "./voucher.js";
import { findVoucher, recordRedemption, returnRedemption, takeRedemption } from "./voucher.repository.js";

type Db = Kysely<OrderingDatabase>;

/** Runs after a transaction that changed `orderId` committed: wakes the relay, the step runner and watchers. */
export type OrderChanged = (orderId: string) => void;

/** How many times a status change re-reads the order when a concurrent change got there first. */
const maxConflictRetries = 5;

function traceOptions(trace: OrderTrace) {
  return { correlationId: trace.correlationId, traceparent: trace.traceparent };
}

/** Creates `order` (SUBMITTED) with OrderStarted in the outbox and its grace-period step scheduled. */
export async function startOrder(trx: Db, order: Order, trace: OrderTrace, timings: StepTimings): Promise<void> {
  await insertOrder(trx, order, trace, stepAfter(order.status, order.createTime, timings));
  await addToOutbox(trx, OrderStarted, { orderId: order.id, buyerId: order.buyerId, checkoutRequestId: order.checkoutRequestId }, traceOptions(trace));
  await announceView(trx, order, trace);
}

/**
 * OrderViewChanged: the whole order after a change, with its version, for the
 * read model. Every write that changes an order (its insert, each status
 * change) calls this in the same transaction, so the read model hears of
 * every committed version and of nothing that was rolled back.
 */
async function announceView(trx: Db, order: Order, trace: OrderTrace): Promise<void> {
  await addToOutbox(trx, OrderViewChanged, { order: orderToProto(order), version: order.version }, traceOptions(trace));
}

export type VoucherRedemption = { redeemed: true; order: Order } | { redeemed: false; reason: string };

/**
 * Redeems voucher `code` for `order` inside the transaction that creates the
 * order: the order with its discount, or why it cannot have it (unknown,
 * inactive, out of its dates, used up, or an amount in another currency),
 * naming the voucher. Nothing is written when it cannot.
 */
export async function redeemVoucher(trx: Db, order: Order, code: string, now: Date): Promise<VoucherRedemption> {
  let valid: string;
  try {
    valid = validateVoucherCode(code, "voucher_code");
  } catch {
    return { redeemed: false, reason: `voucher ${code.slice(0, 60)} does not exist` };
  }
  const subtotal = subtotalOf(order);
  const seen = await findVoucher(trx, valid);
  if (seen?.amountOff !== undefined && seen.amountOff.currencyCode !== subtotal.currencyCode) {
    return { redeemed: false, reason: `voucher ${seen.code} takes ${seen.amountOff.currencyCode} off, and this order is in ${subtotal.currencyCode}` };
  }
  const voucher = await takeRedemption(trx, valid, now);
  if (voucher === undefined) {
    const usability = voucherUsability(await findVoucher(trx, valid), valid, now);
    return { redeemed: false, reason: usability.usable ? `voucher ${valid} could not be redeemed` : usability.reason };
  }
  const discount = voucherDiscount(voucher, subtotal);
  await recordRedemption(trx, order.id, voucher.code, discount, now);
  return { redeemed: true, order: withDiscount(order, voucher.code, discount) };
}

/** Announces that a checkout made no order and never will (CheckoutRejected), so basket releases its lines. */
export async function rejectCheckout(trx: Db, rejection: CheckoutRejected, trace: OrderTrace): Promise<void> {
  await addToOutbox(trx, CheckoutRejected, rejection, traceOptions(trace));
}

/** Writes the event that announces `order` reaching its current status. */
async function announceStatus(trx: Db, order: Order, reason: string, cause: OrderCancellationCause, trace: OrderTrace): Promise<void> {
  const options = traceOptions(trace);
  const base = { orderId: order.id, buyerId: order.buyerId };
  const status: OrderStatus = order.status;
  switch (status) {
    case "AWAITING_VALIDATION":
      await addToOutbox(trx, OrderStatusChangedToAwaitingValidation, { ...base, items: stockItemsOf(order) }, options);
      return;
    case "STOCK_CONFIRMED":
      await addToOutbox(trx, OrderStatusChangedToStockConfirmed, { ...base, total: order.total }, options);
      return;
    case "PAID":
      await addToOutbox(trx, OrderStatusChangedToPaid, { ...base, items: stockItemsOf(order) }, options);
      return;
    case "SHIPPED":
      await addToOutbox(trx, OrderStatusChangedToShipped, base, options);
      return;
    case "CANCELLED":
      await announceCancellation(trx, order, reason, cause, trace);
      return;
    case "SUBMITTED":
      throw new Error(`order ${order.id}: SUBMITTED is announced by startOrder, not by a status change`);
  }
}

/**
 * OrderStatusChangedToCancelled for `order`: catalog releases whatever the
 * order holds, and basket gives the lines back for a cause on the shop's
 * side. Also sent again on its own (cause UNSPECIFIED: the first announcement
 * carried it) when a reservation arrives for an order that was cancelled meanwhile.
 */
export async function announceCancellation(trx: Db, order: Order, reason: string, cause: OrderCancellationCause, trace: OrderTrace): Promise<void> {
  await addToOutbox(
    trx,
    OrderStatusChangedToCancelled,
    { orderId: order.id, buyerId: order.buyerId, reason, items: stockItemsOf(order), cause },
    traceOptions(trace),
  );
}

export interface StatusChangeOptions {
  now: Date;
  timings: StepTimings;
  reason?: string;
  /** Who or what cancels: required when moving to CANCELLED. */
  cause?: OrderCancellationCause;
  authorizationId?: string;
  /** The cause's trace (an event's or a call's); the checkout's trace when absent. */
  trace?: OrderTrace | undefined;
  /** Checks the caller may change this order (ownership); throws to refuse. */
  check?: (order: Order) => void;
  /** Writes more events to the outbox just before the status event (the payment outcome). */
  announce?: (trx: Db, order: Order, trace: OrderTrace) => Promise<void>;
}

export interface StatusChanged {
  transition: Transition;
  trace: OrderTrace;
}

/**
 * Moves order `orderId` to `to` inside `trx`. Throws NotFoundError when there
 * is no such order and IllegalTransitionError (FAILED_PRECONDITION, naming
 * both statuses) when the rules refuse; nothing is written then. When a
 * concurrent change commits between the read and the write, the conditional
 * update matches nothing and the order is read again and decided anew (under
 * READ COMMITTED each statement sees the latest commit), so the loser sees
 * the winner's status rather than overwriting it.
 */
export async function changeOrderStatus(trx: Db, orderId: string, to: OrderStatus, options: StatusChangeOptions): Promise<StatusChanged> {
  if (to === "CANCELLED" && (options.cause === undefined || options.cause === OrderCancellationCause.ORDER_CANCELLATION_CAUSE_UNSPECIFIED)) {
    throw new Error(`order ${orderId}: a cancellation must state its cause`);
  }
  for (let attempt = 1; attempt <= maxConflictRetries; attempt++) {
    const record: OrderRecord | undefined = await findOrderRecord(trx, orderId);
    if (record === undefined) throw new NotFoundError(`order ${orderId} does not exist`);
    options.check?.(record.order);
    const details: { reason?: string; authorizationId?: string } = {};
    if (options.reason !== undefined) details.reason = options.reason;
    if (options.authorizationId !== undefined) details.authorizationId = options.authorizationId;
    const changed = transition(record.order, to, options.now, details);
    if (!(await updateOrderStatus(trx, changed, stepAfter(to, options.now, options.timings)))) continue;
    // A cancelled order gives its voucher's redemption back, once (the status change above happens once).
    if (to === "CANCELLED") await returnRedemption(trx, orderId, options.now);
    const trace: OrderTrace = {
      correlationId: options.trace?.correlationId ?? record.trace.correlationId,
      traceparent: options.trace?.traceparent ?? record.trace.traceparent,
    };
    await options.announce?.(trx, changed.order, trace);
    await announceStatus(trx, changed.order, changed.change.reason, options.cause ?? OrderCancellationCause.ORDER_CANCELLATION_CAUSE_UNSPECIFIED, trace);
    await announceView(trx, changed.order, trace);
    return { transition: changed, trace };
  }
  throw new AbortedError(`order ${orderId} kept changing while it was being moved to ${to}; try again`);
}

/** What handlers, steps and RPCs that change orders are built with. */
export interface OrderFlowDeps {
  db: Db;
  logger: Logger;
  timings: StepTimings;
  /** Call after every commit that changed an order. */
  orderChanged: OrderChanged;
  now?: () => Date;
}
