// SearchOrders reads every buyer's orders of one status newest first, by
// (create_time, id) keyset: this index serves it as orders_buyer_create_time
// serves ListOrders, instead of a scan of every order.
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex("orders_status_create_time").on("orders").columns(["status", "create_time", "id"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("orders_status_create_time").on("orders").execute();
}
