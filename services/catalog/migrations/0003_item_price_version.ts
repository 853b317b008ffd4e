// price_version: goes up by one with every price change, so consumers of
// ProductPriceChanged can refuse a change older than the price they hold.
// Items that exist already start at 1, as new items do.
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("catalog_item")
    .addColumn("price_version", "integer", (col) => col.notNull().defaultTo(1))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("catalog_item").dropColumn("price_version").execute();
}
