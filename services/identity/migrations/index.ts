// Identity's migrations in the order they apply (Kysely sorts by name). The
// messaging tables came after identity's own, so they are 0002, not 0000 as in
// the services that had them from the start: Kysely refuses a migration named
// before one already applied.
import { messagingTablesMigration, outboxParkingMigration } from "../../../platform/events/index.js";
import type { MigrationSet } from "../../../platform/sql/index.js";
import * as identityTables from "./0001_identity_tables.js";
import * as sessionRevocations from "./0003_session_revocations.js";

export const identityMigrations: MigrationSet = {
  "0001_identity_tables": identityTables,
  "0002_messaging_tables": messagingTablesMigration,
  "0003_session_revocations": sessionRevocations,
  "0004_outbox_parking": outboxParkingMigration,
};

/** Names identity's migration bookkeeping tables (identity_migration, identity_migration_lock). */
export const identityMigrationTablePrefix = "identity";
