// Brands, types, items and stock reservations. Written with the schema builder
// so the same migration runs on SQLite, PostgreSQL and SQL Server.
import { type Kysely, sql } from "kysely";
import { isoTimeColumn, unicodeText } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("catalog_brand")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("name", unicodeText(db, 100), (col) => col.notNull().unique())
    .execute();

  await db.schema
    .createTable("catalog_type")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("name", unicodeText(db, 100), (col) => col.notNull().unique())
    .execute();

  await db.schema
    .createTable("catalog_item")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("name", unicodeText(db, 200), (col) => col.notNull())
    .addColumn("name_search", unicodeText(db, 200), (col) => col.notNull())
    .addColumn("description", unicodeText(db, 2000), (col) => col.notNull())
    .addColumn("price_amount_minor", "bigint", (col) => col.notNull())
    .addColumn("price_currency", "varchar(3)", (col) => col.notNull())
    .addColumn("brand_id", "varchar(36)", (col) => col.notNull().references("catalog_brand.id"))
    .addColumn("type_id", "varchar(36)", (col) => col.notNull().references("catalog_type.id"))
    .addColumn("picture_url", unicodeText(db, 500), (col) => col.notNull())
    .addColumn("available_stock", "integer", (col) => col.notNull())
    .addColumn("reserved_stock", "integer", (col) => col.notNull())
    .addColumn("restock_threshold", "integer", (col) => col.notNull())
    .addColumn("max_stock", "integer", (col) => col.notNull())
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
    // The last line of defence: whatever a bug in the code does, stock never goes negative.
    .addCheckConstraint("catalog_item_available_stock_not_negative", sql`available_stock >= 0`)
    .addCheckConstraint("catalog_item_reserved_stock_not_negative", sql`reserved_stock >= 0`)
    .execute();

  // Keyset paging walks these (sort key, id) pairs.
  await db.schema.createIndex("catalog_item_name_search_id").on("catalog_item").columns(["name_search", "id"]).execute();
  await db.schema.createIndex("catalog_item_price_id").on("catalog_item").columns(["price_amount_minor", "id"]).execute();
  await db.schema.createIndex("catalog_item_brand_id").on("catalog_item").column("brand_id").execute();
  await db.schema.createIndex("catalog_item_type_id").on("catalog_item").column("type_id").execute();

  await db.schema
    .createTable("stock_reservation")
    .addColumn("order_id", "varchar(100)", (col) => col.notNull())
    .addColumn("product_id", "varchar(36)", (col) => col.notNull())
    .addColumn("units", "integer", (col) => col.notNull())
    .addColumn("status", "varchar(16)", (col) => col.notNull())
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
    .addPrimaryKeyConstraint("stock_reservation_pk", ["order_id", "product_id"])
    .addCheckConstraint("stock_reservation_units_positive", sql`units > 0`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("stock_reservation").execute();
  await db.schema.dropTable("catalog_item").execute();
  await db.schema.dropTable("catalog_type").execute();
  await db.schema.dropTable("catalog_brand").execute();
}
