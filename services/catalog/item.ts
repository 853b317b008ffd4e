// Catalog items and their rules: what a valid item is, which fields an update
// may touch, and how stock may move. No I/O here; the repository and the gRPC
// layer call these functions and own the transactions.
import { ErrorReason, FailedPreconditionError, InvalidArgumentError } from "../../platform/errors/index.js";

export interface Money {
  /** ISO 4217, upper case. */
  currencyCode: string;
  /** Minor units (centavos for BRL). */
  amountMinor: number;
}

export interface Item {
  id: string;
  name: string;
  description: string;
  price: Money;
  /** Up by one with every price change; the version ProductPriceChanged announces. */
  priceVersion: number;
  brandId: string;
  typeId: string;
  pictureUrl: string;
  availableStock: number;
  reservedStock: number;
  restockThreshold: number;
  maxStock: number;
  createTime: Date;
  updateTime: Date;
  brandName: string;
  typeName: string;
}

/** The fields an admin writes; stock moves only through AdjustStock and the order flow. */
export interface ItemDraft {
  name: string;
  description: string;
  price: Money;
  brandId: string;
  typeId: string;
  pictureUrl: string;
  restockThreshold: number;
  maxStock: number;
}

export const itemLimits = {
  nameLength: 200,
  descriptionLength: 2000,
  pictureUrlLength: 500,
  /** Keeps available + reserved inside int32 however the two move. */
  maxStock: 1_000_000,
} as const;

/** update_mask paths (snake_case, as in the proto) that UpdateItem accepts. */
export const writableItemPaths = ["name", "description", "price", "brand_id", "type_id", "picture_url", "restock_threshold", "max_stock"] as const;
export type WritableItemPath = (typeof writableItemPaths)[number];

const outputOnlyPaths = new Set(["id", "price_version", "reserved_stock", "create_time", "update_time", "brand_name", "type_name"]);
const pricePartPaths = new Set(["price.amount_minor", "price.currency_code"]);

/**
 * Checks a draft before it is written. `field` prefixes field names in errors
 * ("item.price.currency_code") so the caller sees the request's own paths.
 */
export function validateItemDraft(draft: ItemDraft, field = "item"): void {
  const name = draft.name.trim();
  if (name.length === 0) throw new InvalidArgumentError(`${field}.name`, "must not be empty");
  if (name.length > itemLimits.nameLength) {
    throw new InvalidArgumentError(`${field}.name`, `must be at most ${itemLimits.nameLength} characters (got ${name.length})`);
  }
  if (draft.description.length > itemLimits.descriptionLength) {
    throw new InvalidArgumentError(`${field}.description`, `must be at most ${itemLimits.descriptionLength} characters (got ${draft.description.length})`);
  }
  validateMoney(draft.price, `${field}.price`);
  if (draft.brandId.length === 0) throw new InvalidArgumentError(`${field}.brand_id`, "is required; ListBrands gives the valid ids");
  if (draft.typeId.length === 0) throw new InvalidArgumentError(`${field}.type_id`, "is required; ListTypes gives the valid ids");
  validatePictureUrl(draft.pictureUrl, `${field}.picture_url`);
  if (!Number.isInteger(draft.maxStock) || draft.maxStock < 1 || draft.maxStock > itemLimits.maxStock) {
    throw new InvalidArgumentError(`${field}.max_stock`, `must be between 1 and ${itemLimits.maxStock} (got ${draft.maxStock})`);
  }
  if (!Number.isInteger(draft.restockThreshold) || draft.restockThreshold < 0 || draft.restockThreshold > draft.maxStock) {
    throw new InvalidArgumentError(`${field}.restock_threshold`, `must be between 0 and max_stock ${draft.maxStock} (got ${draft.restockThreshold})`);
  }
}

export function validateMoney(money: Money, field: string): void {
  if (!/^[A-Z]{3}$/.test(money.currencyCode)) {
    throw new InvalidArgumentError(`${field}.currency_code`, `must be an upper-case ISO 4217 code such as "BRL" (got "${money.currencyCode}")`);
  }
  if (!Number.isSafeInteger(money.amountMinor) || money.amountMinor < 0) {
    throw new InvalidArgumentError(`${field}.amount_minor`, `must be a whole number of minor units, 0 or more (got ${money.amountMinor})`);
  }
}

function validatePictureUrl(value: string, field: string): void {
  if (value === "") return;
  if (value.length > itemLimits.pictureUrlLength) {
    throw new InvalidArgumentError(field, `must be at most ${itemLimits.pictureUrlLength} characters`);
  }
  // A site-relative path ("/pics/1.webp") or an absolute http(s) URL.
  if (value.startsWith("/") && !value.startsWith("//")) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(field, `must be an http(s) URL or a path starting with "/" (got "${value}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(field, `must use http or https (got "${url.protocol}")`);
  }
}

/**
 * Turns an update_mask into the set of fields to change. An empty mask means
 * every writable field (a full replacement), as AIP-134 describes.
 */
export function resolveUpdateMask(paths: readonly string[] | undefined): Set<WritableItemPath> {
  if (!paths || paths.length === 0) return new Set(writableItemPaths);
  const resolved = new Set<WritableItemPath>();
  for (const path of paths) {
    if ((writableItemPaths as readonly string[]).includes(path)) {
      resolved.add(path as WritableItemPath);
    } else if (pricePartPaths.has(path)) {
      // Money is written whole: a currency without its amount means nothing.
      resolved.add("price");
    } else if (path === "available_stock") {
      throw new InvalidArgumentError("update_mask", `"available_stock" changes only through AdjustStock`);
    } else if (outputOnlyPaths.has(path)) {
      throw new InvalidArgumentError("update_mask", `"${path}" is output only and cannot be updated`);
    } else {
      throw new InvalidArgumentError("update_mask", `unknown path "${path}"; valid paths (snake_case) are ${writableItemPaths.join(", ")}`);
    }
  }
  return resolved;
}

/** The draft after an update: masked fields from the patch, the rest as they were. */
export function applyItemUpdate(current: Item, patch: ItemDraft, fields: ReadonlySet<WritableItemPath>): ItemDraft {
  return {
    name: fields.has("name") ? patch.name.trim() : current.name,
    description: fields.has("description") ? patch.description : current.description,
    price: fields.has("price") ? patch.price : current.price,
    brandId: fields.has("brand_id") ? patch.brandId : current.brandId,
    typeId: fields.has("type_id") ? patch.typeId : current.typeId,
    pictureUrl: fields.has("picture_url") ? patch.pictureUrl : current.pictureUrl,
    restockThreshold: fields.has("restock_threshold") ? patch.restockThreshold : current.restockThreshold,
    maxStock: fields.has("max_stock") ? patch.maxStock : current.maxStock,
  };
}

/** max_stock can never drop below the units the warehouse already holds. */
export function checkMaxStockHoldsStock(item: Pick<Item, "id" | "availableStock" | "reservedStock">, maxStock: number): void {
  const held = item.availableStock + item.reservedStock;
  if (maxStock < held) {
    throw new FailedPreconditionError(
      `item ${item.id} holds ${held} units (${item.availableStock} available + ${item.reservedStock} reserved); max_stock ${maxStock} would be below that`,
    );
  }
}

export function samePrice(a: Money, b: Money): boolean {
  return a.currencyCode === b.currencyCode && a.amountMinor === b.amountMinor;
}

/**
 * The key the name search and name sort run on: lower case without accents, so
 * "cafe" finds "Café" and the order is the same on SQLite (whose lower() only
 * knows ASCII), PostgreSQL and SQL Server (whatever their collations).
 */
export function nameSearchKey(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{Mn}/gu, "")
    .toLowerCase()
    .trim();
}

/** Checks an AdjustStock delta against the item's current stock. */
export function checkStockAdjustment(item: Pick<Item, "id" | "availableStock" | "reservedStock" | "maxStock">, delta: number): void {
  if (item.availableStock + delta < 0) {
    throw new FailedPreconditionError(
      `item ${item.id} has ${item.availableStock} available units; removing ${-delta} would leave ${item.availableStock + delta}`,
      { reason: ErrorReason.STOCK_INSUFFICIENT },
    );
  }
  const held = item.availableStock + item.reservedStock + delta;
  if (held > item.maxStock) {
    throw new FailedPreconditionError(
      `item ${item.id} holds ${item.availableStock + item.reservedStock} units (${item.availableStock} available + ${item.reservedStock} reserved); adding ${delta} would make ${held}, above max_stock ${item.maxStock}`,
    );
  }
}

export function validateStockDelta(delta: number): void {
  if (!Number.isInteger(delta) || delta === 0) {
    throw new InvalidArgumentError("delta", `must be a non-zero whole number of units (got ${delta})`);
  }
  if (Math.abs(delta) > itemLimits.maxStock) {
    throw new InvalidArgumentError("delta", `must be between -${itemLimits.maxStock} and ${itemLimits.maxStock} (got ${delta})`);
  }
}
