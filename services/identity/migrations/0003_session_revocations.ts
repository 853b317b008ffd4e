// Signed-out sessions whose access tokens have not expired yet: what
// SessionRevocationService lists to a service instance before it serves.
// Maintenance deletes a row once its tokens have expired.
import type { Kysely } from "kysely";
import { isoTimeColumn } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("identity_session_revocation")
    .addColumn("session_id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("user_id", "varchar(36)", (col) => col.notNull())
    .addColumn("revoke_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("access_expire_time", isoTimeColumn, (col) => col.notNull())
    .execute();
  await db.schema.createIndex("identity_session_revocation_access_expire_time").on("identity_session_revocation").column("access_expire_time").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("identity_session_revocation").execute();
}
