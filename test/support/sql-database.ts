// Fresh SQL databases for a service's tests on each dialect the tests run
// against: SQLite in a temp folder and PostgreSQL (a new database on the test
// server). Removing one deletes the folder or drops the database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { createDatabase, type MigrationSet, migrateToLatest } from "../../platform/sql/index.js";
import { createTestPostgresDatabase } from "./postgres.js";

export type TestDialect = "sqlite" | "postgres";
export const testDialects: readonly TestDialect[] = ["sqlite", "postgres"];

export interface EmptyTestDatabase {
  url: string;
  /** Removes the database (drops it, or deletes the temp folder). */
  remove(): Promise<void>;
}

/** An empty database named for `service` ("catalog"), not migrated. */
export async function createEmptyTestDatabase(dialect: TestDialect, service: string): Promise<EmptyTestDatabase> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), `mel-${service}-`));
    return { url: `sqlite:${join(dir, `${service}.db`)}`, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const database = await createTestPostgresDatabase(service);
  return { url: database.url, remove: database.drop };
}

export interface TestSqlDatabase<Database> {
  db: Kysely<Database>;
  /** The URL the database was opened with, for starting the service on it. */
  url: string;
  /** Closes the pool, then removes the database. */
  destroy(): Promise<void>;
}

export interface OpenTestSqlDatabaseOptions {
  service: string;
  migrations: MigrationSet;
  /** The migration tables' prefix, as the service's main.ts passes it. */
  tablePrefix: string;
  maxConnections?: number;
}

/** A fresh database for `service`, migrated to the latest version with its own migrations. */
export async function openTestSqlDatabase<Database>(dialect: TestDialect, options: OpenTestSqlDatabaseOptions): Promise<TestSqlDatabase<Database>> {
  const { service, migrations, tablePrefix, maxConnections } = options;
  const database = await createEmptyTestDatabase(dialect, service);
  const variable = `MEL_${service.toUpperCase()}_DATABASE_URL`;
  const db = createDatabase<Database>(database.url, { variable, ...(maxConnections === undefined ? {} : { maxConnections }) });
  try {
    await migrateToLatest(db, migrations, { tablePrefix });
  } catch (error) {
    await db.destroy();
    await database.remove();
    throw error;
  }
  return {
    db,
    url: database.url,
    destroy: async () => {
      await db.destroy();
      await database.remove();
    },
  };
}
