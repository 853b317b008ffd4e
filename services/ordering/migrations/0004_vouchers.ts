// Vouchers, one redemption row per order that used one, and the discount an
// order got. The orders columns are added one statement each: SQLite's ALTER
// TABLE adds one column at a time.
import { type Kysely, sql } from "kysely";
import { booleanColumn, isoTimeColumn, unicodeText } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("voucher")
    .addColumn("code_key", "varchar(40)", (col) => col.primaryKey())
    .addColumn("code", "varchar(40)", (col) => col.notNull())
    .addColumn("percent_off", "integer")
    .addColumn("amount_off_minor", "bigint")
    .addColumn("amount_off_currency", "varchar(3)")
    .addColumn("remaining_redemptions", "integer", (col) => col.notNull())
    .addColumn("valid_from", isoTimeColumn)
    .addColumn("valid_until", isoTimeColumn)
    .addColumn("active", booleanColumn(db), (col) => col.notNull())
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
    // The last line of defence of "never below zero": a decrement racing past 0 fails instead of overselling.
    .addCheckConstraint("voucher_remaining_not_negative", sql`remaining_redemptions >= 0`)
    .addCheckConstraint("voucher_percent_range", sql`percent_off is null or (percent_off between 1 and 100)`)
    .execute();

  await db.schema
    .createTable("voucher_redemption")
    .addColumn("order_id", "varchar(100)", (col) => col.primaryKey())
    .addColumn("voucher_code_key", "varchar(40)", (col) => col.notNull().references("voucher.code_key"))
    .addColumn("discount_minor", "bigint", (col) => col.notNull())
    .addColumn("redeemed_at", isoTimeColumn, (col) => col.notNull())
    .addColumn("returned_at", isoTimeColumn)
    .execute();

  await db.schema.alterTable("orders").addColumn("voucher_code", unicodeText(db, 40)).execute();
  await db.schema
    .alterTable("orders")
    .addColumn("discount_minor", "bigint", (col) => col.notNull().defaultTo(0))
    .execute();
}
