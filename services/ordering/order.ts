// Orders and their rules: what a valid order from a checkout is, which status
// may follow which, and what each status change announces. No I/O here; the
// repository stores orders and order-flow.ts runs transitions in transactions.
import { ErrorReason, FailedPreconditionError, InvalidArgumentError } from "../../platform/errors/index.js";

/**
 * The order's life:
 *   SUBMITTED → AWAITING_VALIDATION → STOCK_CONFIRMED → PAID → SHIPPED
 * and CANCELLED from any status before PAID (buyer cancel, stock rejected,
 * payment failed). SHIPPED and CANCELLED are final.
 */
export const orderStatuses = ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID", "SHIPPED", "CANCELLED"] as const;
export type OrderStatus = (typeof orderStatuses)[number];

const nextStatuses: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  SUBMITTED: ["AWAITING_VALIDATION", "CANCELLED"],
  AWAITING_VALIDATION: ["STOCK_CONFIRMED", "CANCELLED"],
  STOCK_CONFIRMED: ["PAID", "CANCELLED"],
  PAID: ["SHIPPED"],
  SHIPPED: [],
  CANCELLED: [],
};

export interface Money {
  /** ISO 4217, upper case. */
  currencyCode: string;
  /** Minor units (centavos for BRL). */
  amountMinor: number;
}

export interface Address {
  street: string;
  city: string;
  state: string;
  country: string;
  zipCode: string;
}

/** The card as basket masked it: never the number or the security code. */
export interface MaskedPaymentMethod {
  cardBrand: string;
  last4: string;
  expiryMonth: number;
  expiryYear: number;
  holderName: string;
  /** Opaque token the payment gateway authorises against (an HMAC of the number, made by basket). */
  paymentToken: string;
}

export interface OrderLine {
  productId: string;
  productName: string;
  pictureUrl: string;
  unitPrice: Money;
  units: number;
}

export interface StatusChange {
  status: OrderStatus;
  changeTime: Date;
  /** Why, for cancellations; empty otherwise. */
  reason: string;
}

export interface Order {
  id: string;
  buyerId: string;
  /** The email the buyer checked out with ("" for orders placed before it was kept); admins search by it. */
  buyerEmail: string;
  /** The checkout's idempotency key: one order per request id. */
  checkoutRequestId: string;
  status: OrderStatus;
  /** Bumped by every change; a transition applies only to the version it was decided on. */
  version: number;
  address: Address;
  paymentMethod: MaskedPaymentMethod;
  lines: OrderLine[];
  /** What the buyer pays: the lines' sum minus the discount. */
  total: Money;
  /** What the redeemed voucher took off; zero without one. */
  discount: Money;
  /** The redeemed voucher's code as created; undefined without one. */
  voucherCode: string | undefined;
  /** Oldest first; the first entry is SUBMITTED. */
  history: StatusChange[];
  createTime: Date;
  updateTime: Date;
  /** The payment gateway's authorisation reference once PAID. */
  authorizationId: string | undefined;
}

/** Units of one product an order holds; what catalog reserves, sells or releases. */
export interface StockItem {
  productId: string;
  units: number;
}

export const orderLimits = {
  idLength: 100,
  emailLength: 320,
  lines: 100,
  unitsPerLine: 10_000,
  productNameLength: 200,
  pictureUrlLength: 500,
  reasonLength: 500,
} as const;

export function isFinalStatus(status: OrderStatus): boolean {
  return nextStatuses[status].length === 0;
}

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return nextStatuses[from].includes(to);
}

/** Statuses from which `to` may be reached, for error messages. */
function statusesLeadingTo(to: OrderStatus): OrderStatus[] {
  return orderStatuses.filter((from) => canTransition(from, to));
}

/** The order refused a status change; names the current and the wanted status. */
export class IllegalTransitionError extends FailedPreconditionError {
  constructor(
    readonly orderId: string,
    readonly current: OrderStatus,
    readonly wanted: OrderStatus,
  ) {
    const from = statusesLeadingTo(wanted);
    super(
      `order ${orderId} is ${current} and cannot become ${wanted}` +
        (from.length > 0 ? `: only an order that is ${from.join(" or ")} can` : `: no order can become ${wanted} this way`),
      { reason: ErrorReason.ORDER_STATUS_CONFLICT, metadata: { status: current } },
    );
  }
}

/** The order after a status change, and the change itself for the history. */
export interface Transition {
  from: OrderStatus;
  order: Order;
  change: StatusChange;
}

/**
 * Applies `to` to `order` if the rules allow it and returns the changed copy;
 * throws IllegalTransitionError (FAILED_PRECONDITION) otherwise, leaving
 * `order` untouched.
 */
export function transition(order: Order, to: OrderStatus, now: Date, details: { reason?: string; authorizationId?: string } = {}): Transition {
  if (!canTransition(order.status, to)) throw new IllegalTransitionError(order.id, order.status, to);
  const change: StatusChange = { status: to, changeTime: now, reason: (details.reason ?? "").slice(0, orderLimits.reasonLength) };
  return {
    from: order.status,
    change,
    order: {
      ...order,
      status: to,
      version: order.version + 1,
      history: [...order.history, change],
      updateTime: now,
      authorizationId: details.authorizationId ?? order.authorizationId,
    },
  };
}

/** One entry per product (an order may list a product twice), in product id order. */
export function stockItemsOf(order: Pick<Order, "lines">): StockItem[] {
  const units = new Map<string, number>();
  for (const line of order.lines) units.set(line.productId, (units.get(line.productId) ?? 0) + line.units);
  return [...units]
    .map(([productId, total]) => ({ productId, units: total }))
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

/** What the checkout event carries, after the mapper turned proto into domain shapes. */
export interface CheckoutDraft {
  orderId: string;
  buyerId: string;
  /** From the buyer's token at checkout; kept as given (cut to orderLimits.emailLength). */
  buyerEmail: string;
  checkoutRequestId: string;
  address: Address | undefined;
  paymentMethod: MaskedPaymentMethod | undefined;
  lines: Array<Omit<OrderLine, "unitPrice"> & { unitPrice: Money | undefined }>;
  total: Money | undefined;
  /** The voucher the buyer applied; "" for none. Ordering decides what it takes off. */
  voucherCode: string;
  /** What the basket showed the voucher taking off: `total` is the lines' sum minus this. */
  discount: Money | undefined;
}

const idPattern = /^[A-Za-z0-9._:-]+$/;

function checkId(value: string, field: string): void {
  if (value === "") throw new InvalidArgumentError(field, "must not be empty");
  if (value.length > orderLimits.idLength) throw new InvalidArgumentError(field, `must be at most ${orderLimits.idLength} characters (got ${value.length})`);
  if (!idPattern.test(value)) throw new InvalidArgumentError(field, "may hold only letters, digits and . _ : -");
}

function checkMoney(money: Money | undefined, field: string): Money {
  if (money === undefined) throw new InvalidArgumentError(field, "is required");
  if (!/^[A-Z]{3}$/.test(money.currencyCode))
    throw new InvalidArgumentError(`${field}.currency_code`, `must be an ISO 4217 code such as BRL (got "${money.currencyCode}")`);
  if (!Number.isSafeInteger(money.amountMinor) || money.amountMinor < 0) {
    throw new InvalidArgumentError(`${field}.amount_minor`, `must be a whole, non-negative number of minor units (got ${money.amountMinor})`);
  }
  return { currencyCode: money.currencyCode, amountMinor: money.amountMinor };
}

function checkPaymentMethod(method: MaskedPaymentMethod | undefined): MaskedPaymentMethod {
  if (method === undefined) throw new InvalidArgumentError("payment_method", "is required");
  // The last four digits and nothing more: a longer value could be the whole number.
  if (!/^\d{4}$/.test(method.last4)) throw new InvalidArgumentError("payment_method.last4", "must be exactly the last 4 digits of the card");
  if (!Number.isInteger(method.expiryMonth) || method.expiryMonth < 1 || method.expiryMonth > 12) {
    throw new InvalidArgumentError("payment_method.expiry_month", `must be 1 to 12 (got ${method.expiryMonth})`);
  }
  if (!Number.isInteger(method.expiryYear) || method.expiryYear < 2000 || method.expiryYear > 2200) {
    throw new InvalidArgumentError("payment_method.expiry_year", `must be a four-digit year (got ${method.expiryYear})`);
  }
  if (method.paymentToken === "")
    throw new InvalidArgumentError("payment_method.payment_token", "must not be empty: the payment gateway authorises against it");
  return { ...method };
}

/**
 * The order a checkout creates, SUBMITTED at `now`. Throws InvalidArgumentError
 * naming the field for a checkout no order can come from (no lines, mixed
 * currencies, a total that is not the sum of its lines, an unmasked card).
 */
export function orderFromCheckout(draft: CheckoutDraft, now: Date): Order {
  checkId(draft.orderId, "order_id");
  checkId(draft.checkoutRequestId, "request_id");
  if (draft.buyerId === "") throw new InvalidArgumentError("buyer_id", "must not be empty");
  if (draft.address === undefined) throw new InvalidArgumentError("address", "is required");
  const paymentMethod = checkPaymentMethod(draft.paymentMethod);
  if (draft.lines.length === 0) throw new InvalidArgumentError("lines", "must hold at least one line");
  if (draft.lines.length > orderLimits.lines)
    throw new InvalidArgumentError("lines", `must hold at most ${orderLimits.lines} lines (got ${draft.lines.length})`);
  const lines = draft.lines.map((line, index): OrderLine => {
    const field = `lines[${index}]`;
    if (line.productId === "") throw new InvalidArgumentError(`${field}.product_id`, "must not be empty");
    if (!Number.isInteger(line.units) || line.units < 1 || line.units > orderLimits.unitsPerLine) {
      throw new InvalidArgumentError(`${field}.units`, `must be 1 to ${orderLimits.unitsPerLine} (got ${line.units})`);
    }
    return {
      productId: line.productId,
      productName: line.productName.slice(0, orderLimits.productNameLength),
      pictureUrl: line.pictureUrl.slice(0, orderLimits.pictureUrlLength),
      unitPrice: checkMoney(line.unitPrice, `${field}.unit_price`),
      units: line.units,
    };
  });
  const currencyCode = (lines[0] as OrderLine).unitPrice.currencyCode;
  const mixed = lines.findIndex((line) => line.unitPrice.currencyCode !== currencyCode);
  if (mixed >= 0)
    throw new InvalidArgumentError(`lines[${mixed}].unit_price.currency_code`, `must be ${currencyCode} like the first line: an order has one currency`);
  const total: Money = { currencyCode, amountMinor: lines.reduce((sum, line) => sum + line.unitPrice.amountMinor * line.units, 0) };
  const shownDiscount = draft.discount === undefined ? 0 : checkMoney(draft.discount, "discount").amountMinor;
  if (draft.total !== undefined) {
    const claimed = checkMoney(draft.total, "total");
    const expected = total.amountMinor - shownDiscount;
    if (claimed.currencyCode !== total.currencyCode || claimed.amountMinor !== expected) {
      throw new InvalidArgumentError(
        "total",
        `must be the sum of the lines less the discount, ${expected} ${total.currencyCode} (got ${claimed.amountMinor} ${claimed.currencyCode})`,
      );
    }
  }
  return {
    id: draft.orderId,
    buyerId: draft.buyerId,
    buyerEmail: draft.buyerEmail.slice(0, orderLimits.emailLength),
    checkoutRequestId: draft.checkoutRequestId,
    status: "SUBMITTED",
    version: 1,
    address: { ...draft.address },
    paymentMethod,
    lines,
    // Without a redeemed voucher the buyer pays the lines' sum; withDiscount applies one.
    total,
    discount: { currencyCode, amountMinor: 0 },
    voucherCode: undefined,
    history: [{ status: "SUBMITTED", changeTime: now, reason: "" }],
    createTime: now,
    updateTime: now,
    authorizationId: undefined,
  };
}

/** The order's lines' sum, before any discount. */
export function subtotalOf(order: Pick<Order, "total" | "discount">): Money {
  return { currencyCode: order.total.currencyCode, amountMinor: order.total.amountMinor + order.discount.amountMinor };
}

/** `order` with the discount of the voucher it redeemed (at most its subtotal). */
export function withDiscount(order: Order, voucherCode: string, discount: Money): Order {
  const subtotal = subtotalOf(order);
  const amountMinor = Math.min(discount.amountMinor, subtotal.amountMinor);
  return {
    ...order,
    voucherCode,
    discount: { currencyCode: subtotal.currencyCode, amountMinor },
    total: { currencyCode: subtotal.currencyCode, amountMinor: subtotal.amountMinor - amountMinor },
  };
}

/** The text a stock rejection cancels with, naming every short product. */
export function stockRejectedReason(shortages: ReadonlyArray<{ productId: string; requestedUnits: number; availableUnits: number }>): string {
  if (shortages.length === 0) return "stock rejected: the order could not be reserved";
  const parts = shortages.map((s) => `${s.productId} (wanted ${s.requestedUnits}, available ${s.availableUnits})`);
  return `stock rejected: not enough stock for ${parts.join(", ")}`;
}
