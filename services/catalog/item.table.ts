// Kysely row types of catalog's own tables (migrations/ creates them).
import type { ColumnType, Selectable } from "kysely";
import type { MessagingTables } from "../../platform/events/index.js";
import type { ReservationStatus } from "./stock-reservation.js";

/** PostgreSQL returns bigint and count() as strings; mappers read them with Number(). */
type BigIntColumn = ColumnType<number | string, number, number>;

/** Times are ISO-8601 UTC strings: one representation every dialect stores and sorts alike. */
type TimeColumn = string;

export interface CatalogBrandTable {
  id: string;
  name: string;
}

export interface CatalogTypeTable {
  id: string;
  name: string;
}

export interface CatalogItemTable {
  id: string;
  name: string;
  /** nameSearchKey(name): what search and the name sort run on. */
  name_search: string;
  description: string;
  price_amount_minor: BigIntColumn;
  price_currency: string;
  /** Up by one with every price change (ProductPriceChanged.price_version). */
  price_version: number;
  brand_id: string;
  type_id: string;
  picture_url: string;
  available_stock: number;
  reserved_stock: number;
  restock_threshold: number;
  max_stock: number;
  create_time: TimeColumn;
  update_time: TimeColumn;
}

export interface StockReservationTable {
  order_id: string;
  product_id: string;
  units: number;
  status: ReservationStatus;
  create_time: TimeColumn;
  update_time: TimeColumn;
}

export interface CatalogTables {
  catalog_brand: CatalogBrandTable;
  catalog_type: CatalogTypeTable;
  catalog_item: CatalogItemTable;
  stock_reservation: StockReservationTable;
}

export type CatalogItemRow = Selectable<CatalogItemTable>;
export type StockReservationRow = Selectable<StockReservationTable>;

/** Everything in catalog's database: its own tables plus the outbox and inbox. */
export type CatalogDatabase = CatalogTables & MessagingTables;
