// Conversions at the basket's boundaries: document fields ↔ domain ↔ proto.
import type { BasketLine as BasketLineProto, Basket as BasketProto } from "../../gen/mel/basket/v1/basket.js";
import type { CatalogItem } from "../../gen/mel/catalog/v1/catalog.js";
import type { AppliedVoucher, Basket, BasketLine, CatalogPrice, Money } from "./basket.js";
import { emptyBasket } from "./basket.js";
import type { BasketDocument, BasketLineFields, CheckoutFields, MoneyFields, VoucherFields } from "./basket.model.js";
import { basketTotals } from "./basket-voucher.js";
import type { CheckoutRecord } from "./checkout.js";

function money(fields: MoneyFields): Money {
  return { currencyCode: fields.currencyCode, amountMinor: fields.amountMinor };
}

export function fieldsToLine(fields: BasketLineFields): BasketLine {
  return {
    productId: fields.productId,
    productName: fields.productName,
    pictureUrl: fields.pictureUrl,
    unitPrice: money(fields.unitPrice),
    oldUnitPrice: fields.oldUnitPrice ? money(fields.oldUnitPrice) : undefined,
    priceVersion: fields.priceVersion ?? 0,
    quantity: fields.quantity,
  };
}

export function lineToFields(line: BasketLine): BasketLineFields {
  return {
    productId: line.productId,
    productName: line.productName,
    pictureUrl: line.pictureUrl,
    unitPrice: money(line.unitPrice),
    ...(line.oldUnitPrice ? { oldUnitPrice: money(line.oldUnitPrice) } : {}),
    priceVersion: line.priceVersion,
    quantity: line.quantity,
  };
}

export function fieldsToVoucher(fields: VoucherFields): AppliedVoucher {
  return {
    code: fields.code,
    percentOff: fields.percentOff ?? undefined,
    amountOff: fields.amountOff ? money(fields.amountOff) : undefined,
  };
}

export function voucherToFields(voucher: AppliedVoucher): VoucherFields {
  return {
    code: voucher.code,
    ...(voucher.percentOff !== undefined ? { percentOff: voucher.percentOff } : {}),
    ...(voucher.amountOff ? { amountOff: money(voucher.amountOff) } : {}),
  };
}

export function documentToBasket(document: BasketDocument | undefined, buyerId: string): Basket {
  if (!document) return emptyBasket(buyerId);
  return {
    buyerId: document._id,
    lines: document.lines.map(fieldsToLine),
    voucher: document.voucher ? fieldsToVoucher(document.voucher) : undefined,
    voucherRemovedReason: document.voucherRemovedReason ?? undefined,
    version: document.version,
    updatedAt: document.updatedAt,
  };
}

export function fieldsToCheckout(fields: CheckoutFields): CheckoutRecord {
  return {
    requestId: fields.requestId,
    orderId: fields.orderId,
    total: money(fields.total),
    acceptedAt: fields.acceptedAt,
    lines: fields.lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
    orderStartedAt: fields.orderStartedAt ?? undefined,
    rejectedAt: fields.rejectedAt ?? undefined,
    rejectionReason: fields.rejectionReason ?? undefined,
    voucherCode: fields.voucherCode ?? undefined,
  };
}

export function checkoutToFields(record: CheckoutRecord): CheckoutFields {
  return {
    requestId: record.requestId,
    orderId: record.orderId,
    total: money(record.total),
    acceptedAt: record.acceptedAt,
    lines: record.lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
    ...(record.orderStartedAt ? { orderStartedAt: record.orderStartedAt } : {}),
    ...(record.rejectedAt ? { rejectedAt: record.rejectedAt, rejectionReason: record.rejectionReason ?? null } : {}),
    ...(record.voucherCode ? { voucherCode: record.voucherCode } : {}),
  };
}

/** Binary fields read with lean() come back as BSON Binary, not Buffer. */
export function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value && typeof value === "object" && "buffer" in value && (value as { buffer: unknown }).buffer instanceof Uint8Array) {
    return (value as { buffer: Uint8Array }).buffer;
  }
  throw new Error("outbox payload is not binary data");
}

export function lineToProto(line: BasketLine): BasketLineProto {
  return {
    productId: line.productId,
    productName: line.productName,
    pictureUrl: line.pictureUrl,
    unitPrice: line.unitPrice,
    oldUnitPrice: line.oldUnitPrice,
    quantity: line.quantity,
  };
}

export function basketToProto(basket: Basket): BasketProto {
  const totals = basketTotals(basket.lines, basket.voucher);
  return {
    buyerId: basket.buyerId,
    lines: basket.lines.map(lineToProto),
    total: totals?.total,
    subtotal: totals?.subtotal,
    discount: totals?.discount,
    version: basket.version,
    updateTime: basket.updatedAt,
    voucher: basket.voucher && { code: basket.voucher.code, percentOff: basket.voucher.percentOff ?? 0, amountOff: basket.voucher.amountOff },
    voucherRemovedReason: basket.voucherRemovedReason ?? "",
  };
}

/** A catalog item as pricing needs it; an item without a price cannot be sold. */
export function catalogItemToPrice(item: CatalogItem): CatalogPrice | undefined {
  if (!item.price) return undefined;
  return {
    productId: item.id,
    name: item.name,
    pictureUrl: item.pictureUrl,
    price: { currencyCode: item.price.currencyCode, amountMinor: item.price.amountMinor },
    priceVersion: item.priceVersion,
  };
}
