// The buyer's email at checkout, kept with the order so administrators can
// find a buyer's orders by it (the order read model indexes it). Orders placed
// before this migration have none: "".
import type { Kysely } from "kysely";
import { unicodeText } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("orders")
    .addColumn("buyer_email", unicodeText(db, 320), (col) => col.notNull().defaultTo(""))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("orders").dropColumn("buyer_email").execute();
}
