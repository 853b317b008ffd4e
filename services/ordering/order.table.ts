// Kysely row types of ordering's own tables (migrations/ creates them).
import type { ColumnType, Selectable } from "kysely";
import type { MessagingTables } from "../../platform/events/index.js";
import type { OrderStatus } from "./order.js";
import type { OrderStep } from "./order-step.js";

/** PostgreSQL returns bigint as a string; mappers read it with Number(). */
type BigIntColumn = ColumnType<number | string, number, number>;

/** Times are ISO-8601 UTC strings: one representation every dialect stores and sorts alike. */
type TimeColumn = string;

export interface OrderTable {
  id: string;
  buyer_id: string;
  /** Unique with buyer_id: a buyer's checkout request makes one order however often its event arrives. */
  checkout_request_id: string;
  status: OrderStatus;
  version: number;
  address_street: string;
  address_city: string;
  address_state: string;
  address_country: string;
  address_zip_code: string;
  card_brand: string;
  card_last4: string;
  card_expiry_month: number;
  card_expiry_year: number;
  card_holder_name: string;
  payment_token: string;
  total_amount_minor: BigIntColumn;
  total_currency: string;
  authorization_id: string | null;
  /** The checkout's trace, carried by the events the order's scheduled steps publish. */
  correlation_id: string | null;
  traceparent: string | null;
  /** The durable scheduler: the step the order waits for, due at step_due_at. */
  pending_step: OrderStep | null;
  step_due_at: TimeColumn | null;
  step_attempts: number;
  /** A runner that claimed the step holds it until then; after that another may take it. */
  step_locked_until: TimeColumn | null;
  step_last_error: string | null;
  create_time: TimeColumn;
  update_time: TimeColumn;
  /** The redeemed voucher's code as created (migration 0004); null without one. */
  voucher_code: string | null;
  /** What the voucher took off; total_amount_minor is the lines' sum minus this. */
  discount_minor: ColumnType<number | string, number | undefined, number>;
  /** The buyer's email at checkout (migration 0006); "" on orders placed before it. */
  buyer_email: ColumnType<string, string | undefined, string>;
}

export interface OrderLineTable {
  order_id: string;
  line_no: number;
  product_id: string;
  product_name: string;
  picture_url: string;
  unit_price_minor: BigIntColumn;
  unit_price_currency: string;
  units: number;
}

export interface OrderStatusChangeTable {
  order_id: string;
  /** 1 for SUBMITTED, then one more per change: the order's version after the change. */
  seq: number;
  status: OrderStatus;
  reason: string;
  change_time: TimeColumn;
}

export interface VoucherTable {
  /** The code upper-cased: one voucher per code whatever the case. */
  code_key: string;
  code: string;
  percent_off: number | null;
  amount_off_minor: ColumnType<number | string | null, number | null, number | null>;
  amount_off_currency: string | null;
  /** Never below zero (a check constraint): redemption is a conditional decrement. */
  remaining_redemptions: number;
  valid_from: TimeColumn | null;
  valid_until: TimeColumn | null;
  /** 0/1 on SQLite: read with Boolean(). */
  active: ColumnType<boolean | number, boolean, boolean>;
  create_time: TimeColumn;
  update_time: TimeColumn;
}

export interface VoucherRedemptionTable {
  /** One redemption per order, whatever the redeliveries. */
  order_id: string;
  voucher_code_key: string;
  discount_minor: BigIntColumn;
  redeemed_at: TimeColumn;
  /** Set when the order was cancelled and the redemption went back to the voucher. */
  returned_at: TimeColumn | null;
}

export interface OrderingTables {
  orders: OrderTable;
  order_line: OrderLineTable;
  order_status_change: OrderStatusChangeTable;
  voucher: VoucherTable;
  voucher_redemption: VoucherRedemptionTable;
}

export type OrderRow = Selectable<OrderTable>;
export type OrderLineRow = Selectable<OrderLineTable>;
export type OrderStatusChangeRow = Selectable<OrderStatusChangeTable>;
export type VoucherRow = Selectable<VoucherTable>;

/** Everything in ordering's database: its own tables plus the outbox and inbox. */
export type OrderingDatabase = OrderingTables & MessagingTables;
