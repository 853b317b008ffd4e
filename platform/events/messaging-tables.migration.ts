// The outbox and inbox tables, for every SQL service's migration list:
//   migrations: { "0000_messaging_tables": messagingTablesMigration, "0001_…": … }
// Written with the schema builder and the portable column types so it runs on
// SQLite, PostgreSQL and SQL Server alike.
import type { Migration } from "kysely";
import { type AnyKysely, bytesColumn, isoTimeColumn, unicodeText, withAutoIncrementPrimaryKey } from "../sql/index.js";

export const messagingTablesMigration: Migration = {
  async up(db: AnyKysely): Promise<void> {
    await withAutoIncrementPrimaryKey(db, db.schema.createTable("outbox"), "seq")
      .addColumn("id", "varchar(36)", (col) => col.notNull().unique())
      .addColumn("event_type", "varchar(200)", (col) => col.notNull())
      .addColumn("payload", bytesColumn(db), (col) => col.notNull())
      .addColumn("correlation_id", "varchar(200)")
      .addColumn("traceparent", "varchar(200)")
      .addColumn("created_at", isoTimeColumn, (col) => col.notNull())
      .addColumn("published_at", isoTimeColumn)
      .addColumn("attempts", "integer", (col) => col.notNull().defaultTo(0))
      .addColumn("last_error", unicodeText(db, 2000))
      .addColumn("next_attempt_at", isoTimeColumn, (col) => col.notNull())
      .addColumn("claimed_by", "varchar(100)")
      .addColumn("claimed_until", isoTimeColumn)
      .execute();
    // The relay's claim scans unpublished rows due now; retention scans published ones by age.
    await db.schema.createIndex("outbox_pending").on("outbox").columns(["published_at", "next_attempt_at"]).execute();

    await db.schema
      .createTable("inbox")
      .addColumn("event_id", "varchar(100)", (col) => col.notNull())
      .addColumn("consumer", "varchar(100)", (col) => col.notNull())
      .addColumn("processed_at", isoTimeColumn, (col) => col.notNull())
      .addPrimaryKeyConstraint("inbox_pk", ["event_id", "consumer"])
      .execute();
    await db.schema.createIndex("inbox_processed_at").on("inbox").column("processed_at").execute();
  },

  async down(db: AnyKysely): Promise<void> {
    await db.schema.dropTable("inbox").execute();
    await db.schema.dropTable("outbox").execute();
  },
};
