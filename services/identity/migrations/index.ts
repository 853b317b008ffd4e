// Identity's migrations in the order they apply (Kysely sorts by name).
import type { MigrationSet } from "../../../platform/sql/index.js";
import * as identityTables from "./0001_identity_tables.js";

export const identityMigrations: MigrationSet = {
  "0001_identity_tables": identityTables,
};

/** Names identity's migration bookkeeping tables (identity_migration, identity_migration_lock). */
export const identityMigrationTablePrefix = "identity";
