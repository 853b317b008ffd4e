// Conversions at ordering's boundaries: the checkout event into a domain
// draft, and domain orders into the API's proto messages.
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { type Order as ProtoOrder, OrderStatus as ProtoOrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { type CheckoutDraft, type Order, type OrderStatus, subtotalOf } from "./order.js";

const protoStatuses: Readonly<Record<OrderStatus, ProtoOrderStatus>> = {
  SUBMITTED: ProtoOrderStatus.ORDER_STATUS_SUBMITTED,
  AWAITING_VALIDATION: ProtoOrderStatus.ORDER_STATUS_AWAITING_VALIDATION,
  STOCK_CONFIRMED: ProtoOrderStatus.ORDER_STATUS_STOCK_CONFIRMED,
  PAID: ProtoOrderStatus.ORDER_STATUS_PAID,
  SHIPPED: ProtoOrderStatus.ORDER_STATUS_SHIPPED,
  CANCELLED: ProtoOrderStatus.ORDER_STATUS_CANCELLED,
};

export function statusToProto(status: OrderStatus): ProtoOrderStatus {
  return protoStatuses[status];
}

const domainStatuses = new Map<ProtoOrderStatus, OrderStatus>(Object.entries(protoStatuses).map(([status, proto]) => [proto, status as OrderStatus]));

/** The domain status a request names; undefined for UNSPECIFIED or a number no status has (the caller decides what that means). */
export function statusFromProto(status: ProtoOrderStatus): OrderStatus | undefined {
  return domainStatuses.get(status);
}

export function checkoutToDraft(event: UserCheckoutAccepted): CheckoutDraft {
  return {
    orderId: event.orderId,
    buyerId: event.buyerId,
    buyerEmail: event.buyerEmail,
    checkoutRequestId: event.requestId,
    address: event.address && { ...event.address },
    paymentMethod: event.paymentMethod && { ...event.paymentMethod },
    lines: event.lines.map((line) => ({
      productId: line.productId,
      productName: line.productName,
      pictureUrl: line.pictureUrl,
      unitPrice: line.unitPrice && { ...line.unitPrice },
      units: line.units,
    })),
    total: event.total && { ...event.total },
    voucherCode: event.voucherCode,
    discount: event.discount && { ...event.discount },
  };
}

/** The order as the API shows it; the payment token stays inside ordering (the buyer never needs it). */
export function orderToProto(order: Order): ProtoOrder {
  return {
    id: order.id,
    buyerId: order.buyerId,
    status: statusToProto(order.status),
    address: { ...order.address },
    paymentMethod: { ...order.paymentMethod, paymentToken: "" },
    lines: order.lines.map((line) => ({ ...line, unitPrice: { ...line.unitPrice } })),
    total: { ...order.total },
    statusHistory: order.history.map((change) => ({ status: statusToProto(change.status), changeTime: change.changeTime, reason: change.reason })),
    createTime: order.createTime,
    updateTime: order.updateTime,
    checkoutRequestId: order.checkoutRequestId,
    subtotal: subtotalOf(order),
    discount: { ...order.discount },
    voucherCode: order.voucherCode ?? "",
    buyerEmail: order.buyerEmail,
  };
}
