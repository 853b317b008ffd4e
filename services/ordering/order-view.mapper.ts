// Conversions at the read model's boundary: the order as the API shows it
// (what OrderViewChanged carries, what orderToProto makes of the write side)
// into a read-model document, and a document back into the API's Order.
import type { Money } from "../../gen/mel/common/v1/money.js";
import type { Order as ProtoOrder } from "../../gen/mel/ordering/v1/ordering.js";
import type { OrderStatus } from "./order.js";
import { statusFromProto, statusToProto } from "./order.mapper.js";
import type { MoneyFields, OrderViewDocument } from "./order-view.model.js";

/** YYYY-MM-DD of `time` in UTC: the day an order counts on in the sales per day. */
export function utcDay(time: Date): string {
  return time.toISOString().slice(0, 10);
}

function requiredStatus(orderId: string, status: ProtoOrder["status"]): OrderStatus {
  const known = statusFromProto(status);
  if (known === undefined) throw new Error(`order ${orderId}: its view carries no known status (${status}); the read model cannot show it`);
  return known;
}

function money(value: Money | undefined, currencyCode: string): MoneyFields {
  return { currencyCode: value?.currencyCode || currencyCode, amountMinor: value?.amountMinor ?? 0 };
}

/** The document for `order` at `version`, written at `now`. */
export function viewFromProto(order: ProtoOrder, version: number, now: Date): OrderViewDocument {
  if (order.createTime === undefined || order.updateTime === undefined) throw new Error(`order ${order.id}: its view has no create or update time`);
  const total = money(order.total, "");
  return {
    _id: order.id,
    version,
    buyerId: order.buyerId,
    buyerEmail: order.buyerEmail,
    buyerEmailKey: order.buyerEmail.toLowerCase(),
    status: requiredStatus(order.id, order.status),
    checkoutRequestId: order.checkoutRequestId,
    address: {
      street: order.address?.street ?? "",
      city: order.address?.city ?? "",
      state: order.address?.state ?? "",
      country: order.address?.country ?? "",
      zipCode: order.address?.zipCode ?? "",
    },
    paymentMethod: {
      cardBrand: order.paymentMethod?.cardBrand ?? "",
      last4: order.paymentMethod?.last4 ?? "",
      expiryMonth: order.paymentMethod?.expiryMonth ?? 0,
      expiryYear: order.paymentMethod?.expiryYear ?? 0,
      holderName: order.paymentMethod?.holderName ?? "",
    },
    lines: order.lines.map((line) => ({
      productId: line.productId,
      productName: line.productName,
      pictureUrl: line.pictureUrl,
      unitPrice: money(line.unitPrice, total.currencyCode),
      units: line.units,
    })),
    total,
    subtotal: money(order.subtotal, total.currencyCode),
    discount: money(order.discount, total.currencyCode),
    voucherCode: order.voucherCode,
    history: order.statusHistory.map((change) => ({
      status: requiredStatus(order.id, change.status),
      changeTime: change.changeTime ?? order.createTime ?? now,
      reason: change.reason,
    })),
    createTime: order.createTime,
    updateTime: order.updateTime,
    day: utcDay(order.createTime),
    currencyCode: total.currencyCode,
    totalMinor: total.amountMinor,
    projectedAt: now,
  };
}

/** The order a document holds, as the API shows it. */
export function viewToProto(view: OrderViewDocument): ProtoOrder {
  return {
    id: view._id,
    buyerId: view.buyerId,
    status: statusToProto(view.status as OrderStatus),
    address: { ...view.address },
    paymentMethod: { ...view.paymentMethod, paymentToken: "" },
    lines: view.lines.map((line) => ({
      productId: line.productId,
      productName: line.productName,
      pictureUrl: line.pictureUrl,
      unitPrice: { currencyCode: line.unitPrice.currencyCode, amountMinor: line.unitPrice.amountMinor },
      units: line.units,
    })),
    total: { currencyCode: view.total.currencyCode, amountMinor: view.total.amountMinor },
    statusHistory: view.history.map((change) => ({
      status: statusToProto(change.status as OrderStatus),
      changeTime: change.changeTime,
      reason: change.reason,
    })),
    createTime: view.createTime,
    updateTime: view.updateTime,
    checkoutRequestId: view.checkoutRequestId,
    subtotal: { currencyCode: view.subtotal.currencyCode, amountMinor: view.subtotal.amountMinor },
    discount: { currencyCode: view.discount.currencyCode, amountMinor: view.discount.amountMinor },
    voucherCode: view.voucherCode,
    buyerEmail: view.buyerEmail,
  };
}
