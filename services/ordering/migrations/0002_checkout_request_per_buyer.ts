// A checkout request id is the buyer's idempotency key, so it is unique per
// buyer, not across buyers: two buyers who happen to send the same id each get
// their order. 0001 made checkout_request_id unique on its own; this replaces
// that with a unique (buyer_id, checkout_request_id).
//
// SQLite cannot drop a column's UNIQUE (its index belongs to the table
// definition), so there the table is rebuilt as SQLite's ALTER TABLE page
// describes: foreign keys off (order_line and order_status_change point at
// orders), copy into a new table, swap, check the references, foreign keys on.
// The column list below is 0001's, frozen here as this migration found it.
import { type Kysely, sql } from "kysely";
import { dialectOf, isoTimeColumn, unicodeText } from "../../../platform/sql/index.js";

const constraintName = "orders_buyer_checkout_request_unique";

export async function up(db: Kysely<unknown>): Promise<void> {
  switch (dialectOf(db)) {
    case "postgres":
      // PostgreSQL names a column's inline UNIQUE <table>_<column>_key.
      await sql`alter table orders drop constraint orders_checkout_request_id_key`.execute(db);
      await db.schema.alterTable("orders").addUniqueConstraint(constraintName, ["buyer_id", "checkout_request_id"]).execute();
      return;
    case "mssql":
      // SQL Server gave 0001's inline UNIQUE a generated name (UQ__orders__…): look it up.
      await sql`
        declare @name sysname;
        select @name = kc.name
        from sys.key_constraints kc
        join sys.index_columns ic on ic.object_id = kc.parent_object_id and ic.index_id = kc.unique_index_id
        join sys.columns c on c.object_id = ic.object_id and c.column_id = ic.column_id
        where kc.parent_object_id = object_id('orders') and kc.type = 'UQ' and c.name = 'checkout_request_id';
        if @name is not null exec('alter table orders drop constraint ' + quotename(@name));`.execute(db);
      await db.schema.alterTable("orders").addUniqueConstraint(constraintName, ["buyer_id", "checkout_request_id"]).execute();
      return;
    case "sqlite":
      await rebuildSqliteOrders(db);
      return;
  }
}

async function rebuildSqliteOrders(db: Kysely<unknown>): Promise<void> {
  // The pragma is ignored inside a transaction; Kysely runs SQLite migrations outside one.
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await db.transaction().execute(async (trx) => {
      await trx.schema
        .createTable("orders_rebuilt")
        .addColumn("id", "varchar(100)", (col) => col.primaryKey())
        .addColumn("buyer_id", "varchar(100)", (col) => col.notNull())
        .addColumn("checkout_request_id", "varchar(100)", (col) => col.notNull())
        .addColumn("status", "varchar(32)", (col) => col.notNull())
        .addColumn("version", "integer", (col) => col.notNull())
        .addColumn("address_street", unicodeText(trx, 300), (col) => col.notNull())
        .addColumn("address_city", unicodeText(trx, 100), (col) => col.notNull())
        .addColumn("address_state", unicodeText(trx, 100), (col) => col.notNull())
        .addColumn("address_country", unicodeText(trx, 100), (col) => col.notNull())
        .addColumn("address_zip_code", unicodeText(trx, 20), (col) => col.notNull())
        .addColumn("card_brand", "varchar(20)", (col) => col.notNull())
        .addColumn("card_last4", "varchar(4)", (col) => col.notNull())
        .addColumn("card_expiry_month", "integer", (col) => col.notNull())
        .addColumn("card_expiry_year", "integer", (col) => col.notNull())
        .addColumn("card_holder_name", unicodeText(trx, 200), (col) => col.notNull())
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
        .addColumn("step_last_error", unicodeText(trx, 2000))
        .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
        .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
        .addCheckConstraint("orders_version_positive", sql`version > 0`)
        .addCheckConstraint("orders_total_not_negative", sql`total_amount_minor >= 0`)
        .addUniqueConstraint(constraintName, ["buyer_id", "checkout_request_id"])
        .execute();
      await sql`insert into orders_rebuilt select * from orders`.execute(trx);
      await trx.schema.dropTable("orders").execute();
      await trx.schema.alterTable("orders_rebuilt").renameTo("orders").execute();
      await trx.schema.createIndex("orders_buyer_create_time").on("orders").columns(["buyer_id", "create_time", "id"]).execute();
      await trx.schema.createIndex("orders_step_due").on("orders").columns(["pending_step", "step_due_at"]).execute();
      const { rows } = await sql<Record<string, unknown>>`pragma foreign_key_check`.execute(trx);
      if (rows.length > 0) throw new Error(`rebuilding orders left ${rows.length} rows pointing at no order: ${JSON.stringify(rows.slice(0, 5))}`);
    });
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}
