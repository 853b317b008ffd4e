// SQL for orders. Plain functions taking (db | trx, …) so the caller owns the
// transaction. A status change is one conditional UPDATE on the version the
// change was decided on: two writers racing on one order cannot both win.
// Every statement here must compile for SQLite, PostgreSQL and SQL Server alike
// (order.repository.test.ts checks all three).
import type { Kysely, SelectQueryBuilder } from "kysely";
import { isMssql } from "../../platform/sql/index.js";
import type { Order, OrderLine, OrderStatus, StatusChange, Transition } from "./order.js";
import type { OrderingDatabase, OrderLineRow, OrderRow, OrderStatusChangeRow } from "./order.table.js";
import type { OrderStep, ScheduledStep } from "./order-step.js";

type Db = Kysely<OrderingDatabase>;

/** The trace a checkout started, kept so the order's later events carry it on. */
export interface OrderTrace {
  correlationId: string | undefined;
  traceparent: string | undefined;
}

/** An order with what only the service needs to know about it. */
export interface OrderRecord {
  order: Order;
  trace: OrderTrace;
  step: (ScheduledStep & { attempts: number }) | undefined;
}

/** Keyset position in a list of orders, newest first. */
export interface OrderCursor {
  createTime: string;
  id: string;
}

function first<DB, TB extends keyof DB, O>(db: Db, query: SelectQueryBuilder<DB, TB, O>, count: number): SelectQueryBuilder<DB, TB, O> {
  // SQL Server has no LIMIT; Kysely writes TOP for it.
  return isMssql(db) ? query.top(count) : query.limit(count);
}

export async function insertOrder(db: Db, order: Order, trace: OrderTrace, step: ScheduledStep | undefined): Promise<void> {
  await db
    .insertInto("orders")
    .values({
      id: order.id,
      buyer_id: order.buyerId,
      buyer_email: order.buyerEmail,
      checkout_request_id: order.checkoutRequestId,
      status: order.status,
      version: order.version,
      address_street: order.address.street,
      address_city: order.address.city,
      address_state: order.address.state,
      address_country: order.address.country,
      address_zip_code: order.address.zipCode,
      card_brand: order.paymentMethod.cardBrand,
      card_last4: order.paymentMethod.last4,
      card_expiry_month: order.paymentMethod.expiryMonth,
      card_expiry_year: order.paymentMethod.expiryYear,
      card_holder_name: order.paymentMethod.holderName,
      payment_token: order.paymentMethod.paymentToken,
      total_amount_minor: order.total.amountMinor,
      total_currency: order.total.currencyCode,
      voucher_code: order.voucherCode ?? null,
      discount_minor: order.discount.amountMinor,
      authorization_id: order.authorizationId ?? null,
      correlation_id: trace.correlationId ?? null,
      traceparent: trace.traceparent ?? null,
      pending_step: step?.step ?? null,
      step_due_at: step?.dueAt.toISOString() ?? null,
      step_attempts: 0,
      step_locked_until: null,
      step_last_error: null,
      create_time: order.createTime.toISOString(),
      update_time: order.updateTime.toISOString(),
    })
    .execute();
  await db
    .insertInto("order_line")
    .values(
      order.lines.map((line, index) => ({
        order_id: order.id,
        line_no: index + 1,
        product_id: line.productId,
        product_name: line.productName,
        picture_url: line.pictureUrl,
        unit_price_minor: line.unitPrice.amountMinor,
        unit_price_currency: line.unitPrice.currencyCode,
        units: line.units,
      })),
    )
    .execute();
  await db
    .insertInto("order_status_change")
    .values(order.history.map((change, index) => changeToRow(order.id, index + 1, change)))
    .execute();
}

function changeToRow(orderId: string, seq: number, change: StatusChange) {
  return { order_id: orderId, seq, status: change.status, reason: change.reason, change_time: change.changeTime.toISOString() };
}

/**
 * Writes `transition` if the order is still at the version it was decided on,
 * and records the change in the history; `next` replaces whatever step the
 * order waited for. Returns false (and writes nothing) when another change
 * got there first: the caller reads the order again and decides anew.
 */
export async function updateOrderStatus(db: Db, transition: Transition, next: ScheduledStep | undefined): Promise<boolean> {
  const { order, change } = transition;
  const result = await db
    .updateTable("orders")
    .set({
      status: order.status,
      version: order.version,
      authorization_id: order.authorizationId ?? null,
      update_time: order.updateTime.toISOString(),
      pending_step: next?.step ?? null,
      step_due_at: next?.dueAt.toISOString() ?? null,
      step_attempts: 0,
      step_locked_until: null,
      step_last_error: null,
    })
    .where("id", "=", order.id)
    .where("version", "=", order.version - 1)
    .where("status", "=", transition.from)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return false;
  await db
    .insertInto("order_status_change")
    .values(changeToRow(order.id, order.version, change))
    .execute();
  return true;
}

export async function findOrderRecord(db: Db, id: string): Promise<OrderRecord | undefined> {
  const row = await db.selectFrom("orders").selectAll().where("id", "=", id).executeTakeFirst();
  if (row === undefined) return undefined;
  const [order] = await withLinesAndHistory(db, [row]);
  return {
    order: order as Order,
    trace: { correlationId: row.correlation_id ?? undefined, traceparent: row.traceparent ?? undefined },
    step:
      row.pending_step !== null && row.step_due_at !== null
        ? { step: row.pending_step, dueAt: new Date(row.step_due_at), attempts: row.step_attempts }
        : undefined,
  };
}

export async function findOrder(db: Db, id: string): Promise<Order | undefined> {
  return (await findOrderRecord(db, id))?.order;
}

/** The version of an order, or undefined when there is none: a cheap "did it change?" for watchers. */
export async function findOrderVersion(db: Db, id: string): Promise<number | undefined> {
  const row = await db.selectFrom("orders").select("version").where("id", "=", id).executeTakeFirst();
  return row?.version;
}

/** The id of the order a buyer's checkout request made, if any. Request ids are the buyer's own: another buyer may use the same one. */
export async function findOrderIdByCheckoutRequest(db: Db, buyerId: string, checkoutRequestId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("orders")
    .select("id")
    .where("buyer_id", "=", buyerId)
    .where("checkout_request_id", "=", checkoutRequestId)
    .executeTakeFirst();
  return row?.id;
}

/** Up to `limit` of a buyer's orders, newest first, after `cursor` when given. */
export async function listBuyerOrders(db: Db, buyerId: string, limit: number, cursor?: OrderCursor): Promise<Order[]> {
  return newestFirst(db, db.selectFrom("orders").selectAll().where("buyer_id", "=", buyerId), limit, cursor);
}

/** Up to `limit` orders of every buyer, newest first, only those now in `status` when given, after `cursor` when given. */
export async function searchOrders(db: Db, status: OrderStatus | undefined, limit: number, cursor?: OrderCursor): Promise<Order[]> {
  const query = db.selectFrom("orders").selectAll();
  return newestFirst(db, status === undefined ? query : query.where("status", "=", status), limit, cursor);
}

/** One keyset page of `query`: (create_time, id) descending, strictly after `cursor`. */
async function newestFirst(db: Db, query: SelectQueryBuilder<OrderingDatabase, "orders", OrderRow>, limit: number, cursor?: OrderCursor): Promise<Order[]> {
  let page = query;
  if (cursor !== undefined) {
    page = page.where((eb) =>
      eb.or([eb("create_time", "<", cursor.createTime), eb.and([eb("create_time", "=", cursor.createTime), eb("id", "<", cursor.id)])]),
    );
  }
  const rows = await first(db, page.orderBy("create_time", "desc").orderBy("id", "desc"), limit).execute();
  return withLinesAndHistory(db, rows);
}

/** Loads the lines and history of `rows` in two queries and assembles the orders, in `rows` order. */
async function withLinesAndHistory(db: Db, rows: readonly OrderRow[]): Promise<Order[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const [lineRows, changeRows] = await Promise.all([
    db.selectFrom("order_line").selectAll().where("order_id", "in", ids).orderBy("order_id").orderBy("line_no").execute(),
    db.selectFrom("order_status_change").selectAll().where("order_id", "in", ids).orderBy("order_id").orderBy("seq").execute(),
  ]);
  const linesByOrder = groupBy(lineRows, (row) => row.order_id);
  const changesByOrder = groupBy(changeRows, (row) => row.order_id);
  return rows.map((row) => rowToOrder(row, linesByOrder.get(row.id) ?? [], changesByOrder.get(row.id) ?? []));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

export function rowToOrder(row: OrderRow, lines: readonly OrderLineRow[], changes: readonly OrderStatusChangeRow[]): Order {
  return {
    id: row.id,
    buyerId: row.buyer_id,
    buyerEmail: row.buyer_email,
    checkoutRequestId: row.checkout_request_id,
    status: row.status,
    version: row.version,
    address: {
      street: row.address_street,
      city: row.address_city,
      state: row.address_state,
      country: row.address_country,
      zipCode: row.address_zip_code,
    },
    paymentMethod: {
      cardBrand: row.card_brand,
      last4: row.card_last4,
      expiryMonth: row.card_expiry_month,
      expiryYear: row.card_expiry_year,
      holderName: row.card_holder_name,
      paymentToken: row.payment_token,
    },
    lines: lines.map(
      (line): OrderLine => ({
        productId: line.product_id,
        productName: line.product_name,
        pictureUrl: line.picture_url,
        unitPrice: { currencyCode: line.unit_price_currency, amountMinor: Number(line.unit_price_minor) },
        units: line.units,
      }),
    ),
    total: { currencyCode: row.total_currency, amountMinor: Number(row.total_amount_minor) },
    discount: { currencyCode: row.total_currency, amountMinor: Number(row.discount_minor) },
    voucherCode: row.voucher_code ?? undefined,
    history: changes.map((change) => ({ status: change.status, changeTime: new Date(change.change_time), reason: change.reason })),
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
    authorizationId: row.authorization_id ?? undefined,
  };
}

// ---- The durable step scheduler's statements ----

export interface DueStep {
  orderId: string;
  step: OrderStep;
}

/** Up to `limit` steps due at `now` that no runner holds, earliest first. */
export async function findDueSteps(db: Db, now: Date, limit: number): Promise<DueStep[]> {
  const at = now.toISOString();
  const query = db
    .selectFrom("orders")
    .select(["id", "pending_step"])
    .where("pending_step", "is not", null)
    .where("step_due_at", "<=", at)
    .where((eb) => eb.or([eb("step_locked_until", "is", null), eb("step_locked_until", "<", at)]))
    .orderBy("step_due_at");
  const rows = await first(db, query, limit).execute();
  return rows.map((row) => ({ orderId: row.id, step: row.pending_step as OrderStep }));
}

/**
 * When a runner should look again: the earliest due step no runner holds, or
 * the earliest end of a lease on a due step (its runner may have died).
 * Undefined when no order waits for a step.
 */
export async function nextStepDueAt(db: Db, now: Date): Promise<Date | undefined> {
  const at = now.toISOString();
  const [free, held] = await Promise.all([
    db
      .selectFrom("orders")
      .select((eb) => eb.fn.min("step_due_at").as("at"))
      .where("pending_step", "is not", null)
      .where((eb) => eb.or([eb("step_locked_until", "is", null), eb("step_locked_until", "<", at)]))
      .executeTakeFirst(),
    db
      .selectFrom("orders")
      .select((eb) => eb.fn.min("step_locked_until").as("at"))
      .where("pending_step", "is not", null)
      .where("step_locked_until", ">=", at)
      .executeTakeFirst(),
  ]);
  const times = [free?.at, held?.at].filter((time): time is string => typeof time === "string").map((time) => new Date(time).getTime());
  return times.length > 0 ? new Date(Math.min(...times)) : undefined;
}

/** How often the order's current step was claimed (1 on its first run). */
export async function findStepAttempts(db: Db, orderId: string): Promise<number> {
  const row = await db.selectFrom("orders").select("step_attempts").where("id", "=", orderId).executeTakeFirst();
  return row?.step_attempts ?? 0;
}

/**
 * Takes `step` of order `orderId` for one runner until `lockedUntil`, counting
 * the attempt. Returns false when the order no longer waits for it or another
 * runner holds it: exactly one runner wins.
 */
export async function claimStep(db: Db, orderId: string, step: OrderStep, now: Date, lockedUntil: Date): Promise<boolean> {
  const at = now.toISOString();
  const result = await db
    .updateTable("orders")
    .set((eb) => ({ step_locked_until: lockedUntil.toISOString(), step_attempts: eb("step_attempts", "+", 1) }))
    .where("id", "=", orderId)
    .where("pending_step", "=", step)
    .where("step_due_at", "<=", at)
    .where((eb) => eb.or([eb("step_locked_until", "is", null), eb("step_locked_until", "<", at)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A step that failed: release it until `dueAt` and keep the error for the operator. */
export async function rescheduleStep(db: Db, orderId: string, step: OrderStep, dueAt: Date, error: string): Promise<void> {
  await db
    .updateTable("orders")
    .set({ step_due_at: dueAt.toISOString(), step_locked_until: null, step_last_error: error.slice(0, 2000) })
    .where("id", "=", orderId)
    .where("pending_step", "=", step)
    .execute();
}

/** Drops `step` from an order that turned out not to need it (its status moved on). */
export async function clearStep(db: Db, orderId: string, step: OrderStep): Promise<void> {
  await db
    .updateTable("orders")
    .set({ pending_step: null, step_due_at: null, step_locked_until: null })
    .where("id", "=", orderId)
    .where("pending_step", "=", step)
    .execute();
}
