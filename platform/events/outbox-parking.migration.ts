// Parked outbox rows, for every SQL service's migration list after the
// messaging tables: a required event that stays unroutable (no queue is bound
// for it) is marked parked_at instead of being retried forever; the relay
// skips it and `npm run mel -- outbox` lists and replays it. The reason stays
// in last_error.
import type { Kysely, Migration } from "kysely";
import { isoTimeColumn } from "../sql/index.js";

export const outboxParkingMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("outbox").addColumn("parked_at", isoTimeColumn).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("outbox").dropColumn("parked_at").execute();
  },
};
