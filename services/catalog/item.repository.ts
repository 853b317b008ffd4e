// SQL for items, brands and types. Plain functions taking (db | trx, …) so the
// caller owns the transaction. Every statement here must compile for SQLite,
// PostgreSQL and SQL Server alike (item.repository.test.ts checks all three).
import { type Expression, type Kysely, type SqlBool, sql } from "kysely";
import { isMssql, precompiledQuery } from "../../platform/sql/index.js";
import type { Item, ItemDraft, Money } from "./item.js";
import { nameSearchKey, samePrice } from "./item.js";
import type { CatalogDatabase, CatalogItemRow } from "./item.table.js";
import type { ItemListQuery, ItemOrder } from "./item-query.js";

type Db = Kysely<CatalogDatabase>;

export interface Brand {
  id: string;
  name: string;
}

export type ItemType = Brand;

export async function listBrands(db: Db): Promise<Brand[]> {
  return db.selectFrom("catalog_brand").select(["id", "name"]).orderBy("name").orderBy("id").execute();
}

export async function listTypes(db: Db): Promise<ItemType[]> {
  return db.selectFrom("catalog_type").select(["id", "name"]).orderBy("name").orderBy("id").execute();
}

export async function brandExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom("catalog_brand").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
}

export async function typeExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom("catalog_type").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
}

export async function insertBrand(db: Db, brand: Brand): Promise<void> {
  await db.insertInto("catalog_brand").values(brand).execute();
}

export async function insertType(db: Db, type: ItemType): Promise<void> {
  await db.insertInto("catalog_type").values(type).execute();
}

/** Items with their brand and type names, for every read that returns items. */
function selectItems(db: Db) {
  return db
    .selectFrom("catalog_item as i")
    .innerJoin("catalog_brand as b", "b.id", "i.brand_id")
    .innerJoin("catalog_type as t", "t.id", "i.type_id")
    .selectAll("i")
    .select(["b.name as brand_name", "t.name as type_name"]);
}

type ItemWithNamesRow = CatalogItemRow & { brand_name: string; type_name: string };

export function rowToItem(row: ItemWithNamesRow): Item {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: { currencyCode: row.price_currency, amountMinor: Number(row.price_amount_minor) },
    priceVersion: row.price_version,
    brandId: row.brand_id,
    typeId: row.type_id,
    pictureUrl: row.picture_url,
    availableStock: row.available_stock,
    reservedStock: row.reserved_stock,
    restockThreshold: row.restock_threshold,
    maxStock: row.max_stock,
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
    brandName: row.brand_name,
    typeName: row.type_name,
  };
}

// GetItem's read, the catalogue's hottest: compiled once rather than per call.
const findItemQuery = precompiledQuery((db: Db, id: string) => selectItems(db).where("i.id", "=", id));

export async function findItem(db: Db, id: string): Promise<Item | undefined> {
  const [row] = await findItemQuery.execute(db, id);
  return row && rowToItem(row);
}

/** One query for many ids (the caller caps how many). */
export async function findItemsByIds(db: Db, ids: readonly string[]): Promise<Item[]> {
  if (ids.length === 0) return [];
  const rows = await selectItems(db)
    .where("i.id", "in", [...ids])
    .execute();
  return rows.map(rowToItem);
}

const orderColumns: Record<ItemOrder, { column: "i.name_search" | "i.price_amount_minor"; direction: "asc" | "desc" }> = {
  name_asc: { column: "i.name_search", direction: "asc" },
  name_desc: { column: "i.name_search", direction: "desc" },
  price_asc: { column: "i.price_amount_minor", direction: "asc" },
  price_desc: { column: "i.price_amount_minor", direction: "desc" },
};

/** The sort key of an item under an order: what a page token carries. */
export function itemSortKey(item: Item, order: ItemOrder): string | number {
  return order.startsWith("price") ? item.price.amountMinor : nameSearchKey(item.name);
}

export interface ItemPage {
  items: Item[];
  totalCount: number;
  hasMore: boolean;
}

/**
 * A page of items. Reads one row past the page to know whether another page
 * follows. Ties on the sort key are broken by id, so the order is total and a
 * cursor (key, id) names exactly one position.
 */
export async function listItems(db: Db, query: ItemListQuery): Promise<ItemPage> {
  const { column, direction } = orderColumns[query.order];
  const filtered = selectItems(db).where((eb) => {
    const conditions: Expression<SqlBool>[] = [];
    if (query.brandId !== undefined) conditions.push(eb("i.brand_id", "=", query.brandId));
    if (query.typeId !== undefined) conditions.push(eb("i.type_id", "=", query.typeId));
    if (query.nameContains !== undefined) {
      // '!' escapes LIKE's wildcards (and SQL Server's '[') typed by the user.
      const pattern = `%${query.nameContains.replace(/[!%_[]/g, "!$&")}%`;
      conditions.push(sql<SqlBool>`${eb.ref("i.name_search")} like ${pattern} escape '!'`);
    }
    return eb.and(conditions);
  });

  const countRow = await filtered
    .clearSelect()
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .executeTakeFirst();

  let pageQuery = filtered;
  const { start } = query;
  if (start.kind === "after") {
    const comparison = direction === "asc" ? ">" : "<";
    // Expanded form of (key, id) > (k, i): SQL Server has no row-value comparison.
    pageQuery = pageQuery.where((eb) => eb.or([eb(column, comparison, start.key), eb.and([eb(column, "=", start.key), eb("i.id", comparison, start.id)])]));
  }
  pageQuery = pageQuery.orderBy(column, direction).orderBy("i.id", direction);
  const offset = start.kind === "offset" ? start.offset : 0;
  const take = query.pageSize + 1;
  // SQL Server pages only with OFFSET … FETCH; SQLite only with LIMIT … OFFSET.
  const rows = await (isMssql(db) ? pageQuery.offset(offset).fetch(take) : pageQuery.limit(take).offset(offset)).execute();

  return {
    items: rows.slice(0, query.pageSize).map(rowToItem),
    totalCount: Number(countRow?.count ?? 0),
    hasMore: rows.length > query.pageSize,
  };
}

export async function insertItem(db: Db, id: string, draft: ItemDraft, availableStock: number, now: Date): Promise<void> {
  await db
    .insertInto("catalog_item")
    .values({
      id,
      ...draftColumns(draft),
      price_version: 1,
      available_stock: availableStock,
      reserved_stock: 0,
      create_time: now.toISOString(),
      update_time: now.toISOString(),
    })
    .execute();
}

/** The price an update read, which it may only replace while it is still the item's. */
export interface ReadPrice {
  price: Money;
  priceVersion: number;
}

/**
 * Writes a draft over an item, only while its price and price version are
 * still the ones read (so a price-change event names the price it really
 * replaced and the version that follows it) and its stock still fits the new
 * max_stock. A new price takes the next price version in the same statement.
 * False when a guard failed or the item is gone.
 */
export async function updateItem(db: Db, id: string, draft: ItemDraft, now: Date, read: ReadPrice): Promise<boolean> {
  const priceChanges = !samePrice(draft.price, read.price);
  const result = await db
    .updateTable("catalog_item")
    .set((eb) => ({
      ...draftColumns(draft),
      update_time: now.toISOString(),
      ...(priceChanges ? { price_version: eb("price_version", "+", 1) } : {}),
    }))
    .where("id", "=", id)
    .where("price_amount_minor", "=", read.price.amountMinor)
    .where("price_currency", "=", read.price.currencyCode)
    .where("price_version", "=", read.priceVersion)
    .where((eb) => eb(eb("available_stock", "+", eb.ref("reserved_stock")), "<=", draft.maxStock))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

function draftColumns(draft: ItemDraft) {
  return {
    name: draft.name.trim(),
    name_search: nameSearchKey(draft.name),
    description: draft.description,
    price_amount_minor: draft.price.amountMinor,
    price_currency: draft.price.currencyCode,
    brand_id: draft.brandId,
    type_id: draft.typeId,
    picture_url: draft.pictureUrl,
    restock_threshold: draft.restockThreshold,
    max_stock: draft.maxStock,
  };
}

/** Deletes an item unless units are reserved for an order. */
export async function deleteUnreservedItem(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom("catalog_item").where("id", "=", id).where("reserved_stock", "=", 0).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Moves available stock by delta only if it stays within 0 … max_stock (counting
 * reserved units as held): one conditional statement, so concurrent adjustments
 * and reservations can never push it out of bounds. False when the guard failed
 * or the item is gone; the caller reads the item to say which.
 */
export async function adjustAvailableStock(db: Db, id: string, delta: number, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("catalog_item")
    .set((eb) => ({ available_stock: eb("available_stock", "+", delta), update_time: now.toISOString() }))
    .where("id", "=", id)
    .where((eb) => eb(eb("available_stock", "+", delta), ">=", 0))
    .where((eb) => eb(eb(eb("available_stock", "+", eb.ref("reserved_stock")), "+", delta), "<=", eb.ref("max_stock")))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
