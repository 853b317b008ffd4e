// The basket and its rules: what a valid line and quantity are, how edits,
// catalog prices, price-change events and a started order change the lines.
// No I/O here: every function takes the current lines and returns new ones,
// which basket-update.ts writes with optimistic concurrency.
import { ErrorReason, FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../platform/errors/index.js";

export interface Money {
  /** ISO 4217, upper case. */
  currencyCode: string;
  /** Minor units (centavos for BRL). */
  amountMinor: number;
}

export interface BasketLine {
  productId: string;
  productName: string;
  pictureUrl: string;
  unitPrice: Money;
  /** The unit price before the catalog changed it; unset while the price is the one the buyer saw when adding. */
  oldUnitPrice?: Money | undefined;
  /** The catalog's price_version of unitPrice; 0 when not known (a line priced before versions existed). */
  priceVersion: number;
  quantity: number;
}

/** The voucher on a basket (basket-voucher.ts has its rules). */
export interface AppliedVoucher {
  code: string;
  percentOff: number | undefined;
  amountOff: Money | undefined;
}

export interface Basket {
  buyerId: string;
  lines: BasketLine[];
  voucher: AppliedVoucher | undefined;
  /** Why the basket removed the last applied voucher; undefined otherwise. */
  voucherRemovedReason: string | undefined;
  /** 0 for a buyer who has no basket document yet; increases with every change. */
  version: number;
  updatedAt: Date | undefined;
}

/** What pricing needs of a catalog item. */
export interface CatalogPrice {
  productId: string;
  name: string;
  pictureUrl: string;
  price: Money;
  /** The item's price_version when it was read; 0 from a catalog that does not say. */
  priceVersion: number;
}

export interface BasketLimits {
  /** Most units of one product per line (MEL_BASKET_MAX_LINE_QUANTITY). */
  maxLineQuantity: number;
  /** Most lines per basket: also bounds the catalog batch (GetItemsByIds takes 100 ids). */
  maxLines: number;
}

export const productIdMaxLength = 100;

export function emptyBasket(buyerId: string): Basket {
  return { buyerId, lines: [], voucher: undefined, voucherRemovedReason: undefined, version: 0, updatedAt: undefined };
}

export function samePrice(a: Money, b: Money): boolean {
  return a.currencyCode === b.currencyCode && a.amountMinor === b.amountMinor;
}

export function validateProductId(productId: string, field: string): string {
  const trimmed = productId.trim();
  if (trimmed === "") throw new InvalidArgumentError(field, "is required: give the catalog item id");
  if (trimmed.length > productIdMaxLength) throw new InvalidArgumentError(field, `must be at most ${productIdMaxLength} characters`);
  return trimmed;
}

export function validateQuantity(quantity: number, field: string, limits: BasketLimits): void {
  if (!Number.isInteger(quantity) || quantity <= 0) {
    throw new InvalidArgumentError(field, `must be between 1 and ${limits.maxLineQuantity} (got ${quantity}); use RemoveItem to drop a line`);
  }
  if (quantity > limits.maxLineQuantity) {
    throw new InvalidArgumentError(field, `must be at most ${limits.maxLineQuantity} units per product (got ${quantity})`);
  }
}

/** A line for `productId` with no catalog data yet: pricing fills name, picture and price. */
function unpricedLine(productId: string, quantity: number): BasketLine {
  return { productId, productName: "", pictureUrl: "", unitPrice: { currencyCode: "", amountMinor: 0 }, priceVersion: 0, quantity };
}

/** Adds `quantity` units of a product, creating its line when missing. */
export function addUnits(lines: readonly BasketLine[], productId: string, quantity: number, limits: BasketLimits): BasketLine[] {
  const existing = lines.find((line) => line.productId === productId);
  if (!existing) {
    if (lines.length >= limits.maxLines) {
      throw new FailedPreconditionError(`the basket already holds ${limits.maxLines} products, the most it can; remove one before adding ${productId}`, {
        reason: ErrorReason.BASKET_LINE_LIMIT,
        metadata: { limit: String(limits.maxLines) },
      });
    }
    return [...lines, unpricedLine(productId, quantity)];
  }
  const total = existing.quantity + quantity;
  if (total > limits.maxLineQuantity) {
    throw new InvalidArgumentError(
      "quantity",
      `adding ${quantity} would make ${total} units of ${productId}; at most ${limits.maxLineQuantity} per product (the basket has ${existing.quantity})`,
      // What a client merging baskets needs to add as much as still fits.
      { metadata: { limit: String(limits.maxLineQuantity), in_basket: String(existing.quantity) } },
    );
  }
  return lines.map((line) => (line === existing ? { ...line, quantity: total } : line));
}

/** Sets the quantity of an existing line. */
export function setLineQuantity(lines: readonly BasketLine[], productId: string, quantity: number): BasketLine[] {
  if (!lines.some((line) => line.productId === productId)) {
    throw new NotFoundError(`product ${productId} is not in your basket; add it with AddItem`, { reason: ErrorReason.PRODUCT_NOT_IN_BASKET });
  }
  return lines.map((line) => (line.productId === productId ? { ...line, quantity } : line));
}

export function removeLine(lines: readonly BasketLine[], productId: string): BasketLine[] {
  if (!lines.some((line) => line.productId === productId))
    throw new NotFoundError(`product ${productId} is not in your basket`, { reason: ErrorReason.PRODUCT_NOT_IN_BASKET });
  return lines.filter((line) => line.productId !== productId);
}

export interface ItemQuantity {
  productId: string;
  quantity: number;
}

/**
 * Validates SetItems' list and returns the new lines, keeping what the basket
 * knew of products it already held (their prices are refreshed by pricing).
 */
export function replaceLines(lines: readonly BasketLine[], items: readonly ItemQuantity[], limits: BasketLimits): BasketLine[] {
  if (items.length > limits.maxLines) throw new InvalidArgumentError("items", `at most ${limits.maxLines} products per basket (got ${items.length})`);
  const seen = new Map<string, number>();
  return items.map((item, index) => {
    const productId = validateProductId(item.productId, `items[${index}].product_id`);
    validateQuantity(item.quantity, `items[${index}].quantity`, limits);
    const first = seen.get(productId);
    if (first !== undefined) throw new InvalidArgumentError(`items[${index}].product_id`, `${productId} is already in items[${first}]; give each product once`);
    seen.set(productId, index);
    const existing = lines.find((line) => line.productId === productId);
    return existing ? { ...existing, quantity: item.quantity } : unpricedLine(productId, item.quantity);
  });
}

/** Takes a catalog price for a line: remembers the price the buyer saw until the catalog returns to it. */
function withPrice(line: BasketLine, price: Money, priceVersion: number): BasketLine {
  if (line.unitPrice.currencyCode === "" || samePrice(line.unitPrice, price)) return { ...line, unitPrice: price, priceVersion };
  const seen = line.oldUnitPrice ?? line.unitPrice;
  return { ...line, unitPrice: price, oldUnitPrice: samePrice(seen, price) ? undefined : seen, priceVersion };
}

/**
 * True when a price of `version` is older than the one the line holds, so
 * taking it would put back a price the catalog has replaced: a price read
 * before a ProductPriceChanged the line has already taken, or a change
 * delivered late. Version 0 says nothing of its age and is taken.
 */
function olderThanLine(line: BasketLine, version: number): boolean {
  return version !== 0 && version < line.priceVersion;
}

/**
 * Prices lines against the catalog. Every product in `required` must be in
 * the catalog (NOT_FOUND names those that are not); other lines whose product
 * has gone keep their last price, so the buyer can still see and remove them.
 */
export function priceLines(lines: readonly BasketLine[], catalog: ReadonlyMap<string, CatalogPrice>, required: ReadonlySet<string>): BasketLine[] {
  const missing = [...required].filter((productId) => !catalog.has(productId));
  if (missing.length > 0) {
    throw new NotFoundError(
      `${missing.length === 1 ? "product" : "products"} ${missing.join(", ")} not found in the catalog; remove ${missing.length === 1 ? "it" : "them"} or choose another`,
      { reason: ErrorReason.PRODUCT_UNKNOWN, metadata: { product_ids: missing.join(",") } },
    );
  }
  return lines.map((line) => {
    const item = catalog.get(line.productId);
    if (!item) return line;
    const repriced = olderThanLine(line, item.priceVersion) ? line : withPrice(line, item.price, item.priceVersion);
    return { ...repriced, productName: item.name, pictureUrl: item.pictureUrl };
  });
}

/**
 * ProductPriceChanged: the line for the product takes the new price and keeps
 * the one the buyer saw, if the change is newer than the line's price (its
 * price version is higher). Undefined when nothing changes (no such line, a
 * change no newer than the line's price, or a price already current), so a
 * duplicate or late event writes nothing. A change of version 0 (published
 * before versions existed) is taken in the order it arrives.
 */
export function applyPriceChange(lines: readonly BasketLine[], productId: string, newPrice: Money, priceVersion: number): BasketLine[] | undefined {
  const line = lines.find((candidate) => candidate.productId === productId);
  if (!line) return undefined;
  if (priceVersion === 0) {
    if (samePrice(line.unitPrice, newPrice)) return undefined;
    return lines.map((candidate) => (candidate === line ? withPrice(candidate, newPrice, candidate.priceVersion) : candidate));
  }
  if (priceVersion <= line.priceVersion) return undefined;
  return lines.map((candidate) => (candidate === line ? withPrice(candidate, newPrice, priceVersion) : candidate));
}

/**
 * OrderStarted: removes the units that were checked out. Lines added, and
 * units added to a line, after the checkout stay: they belong to the buyer's
 * next order, not to the one that started.
 */
export function removeCheckedOutUnits(lines: readonly BasketLine[], checkedOut: readonly ItemQuantity[]): BasketLine[] {
  const units = new Map(checkedOut.map((line) => [line.productId, line.quantity]));
  return lines.flatMap((line) => {
    const left = line.quantity - (units.get(line.productId) ?? 0);
    return left > 0 ? [{ ...line, quantity: left }] : [];
  });
}

/**
 * OrderStatusChangedToCancelled on the shop's side: a cancelled order's units
 * go back into the basket, into the product's line when it has one (units
 * added since stay), else into a new line. A line holds at most
 * maxLineQuantity units and the basket at most maxLines lines; what does not
 * fit is left out and returned, so the caller can say so.
 */
export function giveBackUnits(
  lines: readonly BasketLine[],
  givenBack: readonly ItemQuantity[],
  limits: BasketLimits,
): { lines: BasketLine[]; leftOut: ItemQuantity[] } {
  const result = [...lines];
  const leftOut: ItemQuantity[] = [];
  for (const item of givenBack) {
    if (!Number.isInteger(item.quantity) || item.quantity <= 0) continue;
    const index = result.findIndex((line) => line.productId === item.productId);
    const existing = index === -1 ? undefined : result[index];
    if (existing === undefined) {
      if (result.length >= limits.maxLines) {
        leftOut.push(item);
        continue;
      }
      const quantity = Math.min(item.quantity, limits.maxLineQuantity);
      result.push(unpricedLine(item.productId, quantity));
      if (quantity < item.quantity) leftOut.push({ productId: item.productId, quantity: item.quantity - quantity });
      continue;
    }
    const quantity = Math.min(existing.quantity + item.quantity, Math.max(limits.maxLineQuantity, existing.quantity));
    result[index] = { ...existing, quantity };
    const added = quantity - existing.quantity;
    if (added < item.quantity) leftOut.push({ productId: item.productId, quantity: item.quantity - added });
  }
  return { lines: result, leftOut };
}

/** The sum of the lines, or undefined for an empty basket (there is no currency to state). */
export function basketTotal(lines: readonly BasketLine[]): Money | undefined {
  const first = lines[0];
  if (!first) return undefined;
  let amountMinor = 0;
  for (const line of lines) {
    if (line.unitPrice.currencyCode !== first.unitPrice.currencyCode) {
      throw new FailedPreconditionError(
        `the basket mixes currencies (${first.unitPrice.currencyCode} for ${first.productId}, ${line.unitPrice.currencyCode} for ${line.productId}); it cannot be totalled`,
      );
    }
    amountMinor += line.unitPrice.amountMinor * line.quantity;
  }
  return { currencyCode: first.unitPrice.currencyCode, amountMinor };
}
