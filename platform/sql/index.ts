// platform/sql: the SQL store every SQL-backed service uses. It turns a
// connection URL into a Kysely instance (SQLite, PostgreSQL or SQL Server),
// runs a service's migrations, offers the few portable column types one set of
// migrations needs, and compiles SQL for SQL Server without a server so tests
// can check the T-SQL path.
//
// It must never hold business rules or table definitions of a service, never
// keep a global connection (the caller builds one in main.ts and passes it
// down), and never log or echo a connection URL (it may carry a password).

export { booleanColumn, bytesColumn, isoTimeColumn, unicodeText, withAutoIncrementPrimaryKey } from "./columns.js";
export {
  type AnyKysely,
  type CreateDatabaseOptions,
  createDatabase,
  type DatabaseTarget,
  DatabaseUrlError,
  type DialectKind,
  dialectOf,
  isMssql,
  parseDatabaseUrl,
} from "./database.js";
export { createMigrator, type MigrateOptions, MigrationError, type MigrationSet, migrateToLatest } from "./migrator.js";
export { type PrecompiledArgument, type PrecompiledQuery, precompiledQuery } from "./precompiled-query.js";
export { isUniqueViolation } from "./unique-violation.js";
