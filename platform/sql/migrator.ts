// Runs a service's migrations at start-up. Migrations are TypeScript modules the
// service imports explicitly (no folder scanning: the list is what gets bundled
// into dist/ and what the MSSQL compile tests walk).

import { type Migration, Migrator } from "kysely";
import type { Logger } from "pino";
import type { AnyKysely } from "./database.js";

/** A service's migrations by name; Kysely applies them in name order. */
export type MigrationSet = Readonly<Record<string, Migration>>;

export interface MigrateOptions {
  /**
   * Names the bookkeeping tables (`<prefix>_migration`, `<prefix>_migration_lock`),
   * so two services pointed at one database by mistake do not read each other's history.
   */
  tablePrefix: string;
  logger?: Logger;
}

/** A migration run that did not reach the latest version; names the migration that failed. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

export function createMigrator(db: AnyKysely, migrations: MigrationSet, options: Pick<MigrateOptions, "tablePrefix">): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: `${options.tablePrefix}_migration`,
    migrationLockTableName: `${options.tablePrefix}_migration_lock`,
  });
}

/**
 * Brings the schema to the latest migration. Kysely's lock table keeps two
 * instances starting together from running the same migration twice. Throws
 * MigrationError naming the failed migration; earlier ones stay applied.
 * Returns the names applied by this call.
 */
export async function migrateToLatest(db: AnyKysely, migrations: MigrationSet, options: MigrateOptions): Promise<string[]> {
  const { error, results } = await createMigrator(db, migrations, options).migrateToLatest();
  const applied = (results ?? []).filter((result) => result.status === "Success").map((result) => result.migrationName);
  for (const name of applied) options.logger?.info({ migration: name }, "migration applied");
  if (error !== undefined) {
    const failed = (results ?? []).find((result) => result.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(failed ? `migration ${failed} failed: ${reason}` : `migrations could not run: ${reason}`, { cause: error });
  }
  return applied;
}
