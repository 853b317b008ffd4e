// Recognising a unique or primary-key violation, whichever database raised it.
// The database, not a prior read, is what makes a key unique under concurrent
// writers, so callers insert and then ask this of the error.

/**
 * True for a unique or primary-key violation, by each driver's own code:
 * PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY, SQL Server 2627/2601.
 */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, number } = error as { code?: unknown; number?: unknown };
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || number === 2627 || number === 2601;
}
