// Orders, their lines and their status history. Written with the schema
// builder so the same migration runs on SQLite, PostgreSQL and SQL Server.
import { type Kysely, sql } from "kysely";
import { isoTimeColumn, unicodeText } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("orders")
    .addColumn("id", "varchar(100)", (col) => col.primaryKey())
    .addColumn("buyer_id", "varchar(100)", (col) => col.notNull())
    .addColumn("checkout_request_id", "varchar(100)", (col) => col.notNull().unique())
    .addColumn("status", "varchar(32)", (col) => col.notNull())
    .addColumn("version", "integer", (col) => col.notNull())
    .addColumn("address_street", unicodeText(db, 300), (col) => col.notNull())
    .addColumn("address_city", unicodeText(db, 100), (col) => col.notNull())
    .addColumn("address_state", unicodeText(db, 100), (col) => col.notNull())
    .addColumn("address_country", unicodeText(db, 100), (col) => col.notNull())
    .addColumn("address_zip_code", unicodeText(db, 20), (col) => col.notNull())
    .addColumn("card_brand", "varchar(20)", (col) => col.notNull())
    .addColumn("card_last4", "varchar(4)", (col) => col.notNull())
    .addColumn("card_expiry_month", "integer", (col) => col.notNull())
    .addColumn("card_expiry_year", "integer", (col) => col.notNull())
    .addColumn("card_holder_name", unicodeText(db, 200), (col) => col.notNull())
    .addColumn("payment_token", "varchar(200)", (col) => col.notNull())
    .addColumn("total_amount_minor", "bigint", (col) => col.notNull())
    .addColumn("total_currency", "varchar(3)", (col) => col.notNull())
    .addColumn("authorization_id", "varchar(200)")
    .addColumn("correlation_id", "varchar(200)")
    .addColumn("traceparent", "varchar(200)")
    .addColumn("pending_step", "varchar(32)")
    .addColumn("step_due_at", isoTimeColumn)
    .addColumn("step_attempts", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("step_locked_until", isoTimeColumn)
    .addColumn("step_last_error", unicodeText(db, 2000))
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
    .addCheckConstraint("orders_version_positive", sql`version > 0`)
    .addCheckConstraint("orders_total_not_negative", sql`total_amount_minor >= 0`)
    .execute();
  // ListOrders walks a buyer's orders newest first by (create_time, id).
  await db.schema.createIndex("orders_buyer_create_time").on("orders").columns(["buyer_id", "create_time", "id"]).execute();
  // The step runner looks for due steps.
  await db.schema.createIndex("orders_step_due").on("orders").columns(["pending_step", "step_due_at"]).execute();

  await db.schema
    .createTable("order_line")
    .addColumn("order_id", "varchar(100)", (col) => col.notNull().references("orders.id"))
    .addColumn("line_no", "integer", (col) => col.notNull())
    .addColumn("product_id", "varchar(100)", (col) => col.notNull())
    .addColumn("product_name", unicodeText(db, 200), (col) => col.notNull())
    .addColumn("picture_url", "varchar(500)", (col) => col.notNull())
    .addColumn("unit_price_minor", "bigint", (col) => col.notNull())
    .addColumn("unit_price_currency", "varchar(3)", (col) => col.notNull())
    .addColumn("units", "integer", (col) => col.notNull())
    .addPrimaryKeyConstraint("order_line_pk", ["order_id", "line_no"])
    .addCheckConstraint("order_line_units_positive", sql`units > 0`)
    .execute();

  await db.schema
    .createTable("order_status_change")
    .addColumn("order_id", "varchar(100)", (col) => col.notNull().references("orders.id"))
    .addColumn("seq", "integer", (col) => col.notNull())
    .addColumn("status", "varchar(32)", (col) => col.notNull())
    .addColumn("reason", unicodeText(db, 500), (col) => col.notNull())
    .addColumn("change_time", isoTimeColumn, (col) => col.notNull())
    // One entry per version: two writers deciding on the same version cannot both record a change.
    .addPrimaryKeyConstraint("order_status_change_pk", ["order_id", "seq"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("order_status_change").execute();
  await db.schema.dropTable("order_line").execute();
  await db.schema.dropTable("orders").execute();
}
