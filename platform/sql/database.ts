// One Kysely instance from a connection URL: the URL's scheme picks the dialect,
// so a service runs unchanged on its embedded SQLite file, PostgreSQL or SQL Server.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { type Dialect, Kysely, MssqlAdapter, MssqlDialect, PostgresAdapter, PostgresDialect, SqliteAdapter, type SqliteDatabase, SqliteDialect } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import * as tarn from "tarn";
import * as tedious from "tedious";
import { SqliteBooleanPlugin } from "./sqlite-booleans.js";

export type DialectKind = "sqlite" | "postgres" | "mssql";

/** Where a URL points, after parsing; never holds more than the URL said. */
export type DatabaseTarget =
  | { kind: "sqlite"; file: string }
  | { kind: "postgres"; connectionString: string }
  | {
      kind: "mssql";
      server: string;
      port: number;
      database: string;
      userName: string;
      password: string;
      encrypt: boolean;
      trustServerCertificate: boolean;
    };

export interface CreateDatabaseOptions {
  /** The environment variable the URL came from, named in every error (e.g. MEL_CATALOG_DATABASE_URL). */
  variable: string;
  /** SQLite file used when the URL is unset or empty; ":memory:" when omitted. */
  defaultSqliteFile?: string;
  /** Most connections a server pool opens (PostgreSQL, SQL Server). Default 10. */
  maxConnections?: number;
  /** How long SQLite waits for another process's write lock before SQLITE_BUSY. Default 5000 ms. */
  sqliteBusyTimeoutMs?: number;
  /** Told about connections that fail while idle in the pool (server restart, terminated backend). */
  logger?: Logger;
}

/** A connection URL that cannot be used; the message names the variable and what would be valid. */
export class DatabaseUrlError extends Error {
  override readonly name = "DatabaseUrlError";
}

const acceptedForms =
  "sqlite:<file>, sqlite::memory:, postgres://user@host:5432/db or mssql://user:password@host:1433/db?encrypt=true&trustServerCertificate=false";

function parseBoolean(value: string | null, fallback: boolean, variable: string, name: string): boolean {
  if (value === null || value === "") return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new DatabaseUrlError(`${variable}: query parameter ${name}=${value} must be true or false`);
}

/**
 * Parses a database URL without connecting. Unset or empty means the SQLite
 * default file. Throws DatabaseUrlError naming `variable` for anything else
 * it cannot use.
 */
export function parseDatabaseUrl(url: string | undefined, options: Pick<CreateDatabaseOptions, "variable" | "defaultSqliteFile">): DatabaseTarget {
  const { variable } = options;
  const raw = url?.trim() ?? "";
  if (raw === "") return { kind: "sqlite", file: options.defaultSqliteFile ?? ":memory:" };

  if (raw.startsWith("sqlite:")) {
    // sqlite:data/x.db, sqlite:///abs/x.db and sqlite://rel/x.db all name a file.
    let file = raw.slice("sqlite:".length);
    if (file.startsWith("//")) file = file.slice(2);
    if (file === "") throw new DatabaseUrlError(`${variable}: "${raw}" names no SQLite file; use sqlite:<file> or sqlite::memory:`);
    return { kind: "sqlite", file };
  }

  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new DatabaseUrlError(`${variable} is not a URL; use one of ${acceptedForms}`);
  }

  switch (parsed.protocol) {
    case "postgres:":
    case "postgresql:":
      if (parsed.hostname === "" && !parsed.searchParams.has("host")) {
        throw new DatabaseUrlError(`${variable}: a PostgreSQL URL needs a host, e.g. postgres://user@127.0.0.1:5432/db`);
      }
      return { kind: "postgres", connectionString: raw };
    case "mssql:":
    case "sqlserver:": {
      const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
      if (parsed.hostname === "") throw new DatabaseUrlError(`${variable}: a SQL Server URL needs a host, e.g. mssql://user:password@host:1433/db`);
      if (database === "")
        throw new DatabaseUrlError(`${variable}: a SQL Server URL needs a database name after the port, e.g. mssql://user:password@host:1433/catalog`);
      if (parsed.username === "") throw new DatabaseUrlError(`${variable}: a SQL Server URL needs a user name, e.g. mssql://user:password@host:1433/db`);
      const port = parsed.port === "" ? 1433 : Number(parsed.port);
      return {
        kind: "mssql",
        server: parsed.hostname,
        port,
        database,
        userName: decodeURIComponent(parsed.username),
        password: decodeURIComponent(parsed.password),
        encrypt: parseBoolean(parsed.searchParams.get("encrypt"), true, variable, "encrypt"),
        trustServerCertificate: parseBoolean(parsed.searchParams.get("trustServerCertificate"), false, variable, "trustServerCertificate"),
      };
    }
    default:
      throw new DatabaseUrlError(`${variable}: scheme "${parsed.protocol}" is not supported; use one of ${acceptedForms}`);
  }
}

function sqliteDialect(file: string, busyTimeoutMs: number): Dialect {
  if (file !== ":memory:") mkdirSync(dirname(resolve(file)), { recursive: true });
  const database = new BetterSqlite3(file, { timeout: busyTimeoutMs });
  // WAL lets readers in other processes (the CLI, a second relay) read while
  // the service writes; it does not exist for in-memory databases.
  if (file !== ":memory:") database.pragma("journal_mode = WAL");
  database.pragma("foreign_keys = ON");
  return new SqliteDialect({ database: withStatementCache(database) });
}

/** Distinct SQL texts whose prepared statements a SQLite connection keeps. */
export const sqliteStatementCacheSize = 256;

/**
 * `database` as Kysely's SqliteDialect sees it, with `prepare` answering a
 * statement already prepared for the same SQL text. Kysely prepares on every
 * query, and parsing and planning a statement costs more than running a
 * small one. Reuse is safe: the dialect runs one query at a time on its one
 * connection (a stream holds the connection until it ends), parameters are
 * bound per call, and SQLite re-prepares a statement by itself when the
 * schema changes under it. The least recently used statement goes first.
 */
export function withStatementCache(database: BetterSqlite3.Database, size = sqliteStatementCacheSize): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string) {
      let statement = statements.get(sqlText);
      if (statement === undefined) {
        statement = database.prepare(sqlText);
        if (statements.size >= size) statements.delete(statements.keys().next().value as string);
      } else {
        statements.delete(sqlText);
      }
      statements.set(sqlText, statement);
      return statement;
    },
  };
}

/**
 * The tedious connection settings for a SQL Server target: what every pooled
 * connection is opened with, TLS flags included.
 */
export function tediousConnectionConfig(target: Extract<DatabaseTarget, { kind: "mssql" }>): tedious.ConnectionConfiguration {
  return {
    server: target.server,
    authentication: { type: "default", options: { userName: target.userName, password: target.password } },
    options: {
      port: target.port,
      database: target.database,
      encrypt: target.encrypt,
      trustServerCertificate: target.trustServerCertificate,
    },
  };
}

function mssqlDialect(target: Extract<DatabaseTarget, { kind: "mssql" }>, maxConnections: number): Dialect {
  return new MssqlDialect({
    tarn: { ...tarn, options: { min: 0, max: maxConnections } },
    tedious: {
      ...tedious,
      connectionFactory: () => new tedious.Connection(tediousConnectionConfig(target)),
    },
  });
}

/**
 * Builds a Kysely instance for `url` (see parseDatabaseUrl). Nothing connects
 * until the first query, except SQLite, which opens (and creates) its file here.
 * The caller owns the instance and must `destroy()` it on shutdown.
 */
export function createDatabase<DB>(url: string | undefined, options: CreateDatabaseOptions): Kysely<DB> {
  const target = parseDatabaseUrl(url, options);
  const maxConnections = options.maxConnections ?? 10;
  switch (target.kind) {
    case "sqlite":
      return new Kysely<DB>({
        dialect: sqliteDialect(target.file, options.sqliteBusyTimeoutMs ?? 5000),
        plugins: [new SqliteBooleanPlugin()],
      });
    case "postgres": {
      const pool = new pg.Pool({ connectionString: target.connectionString, max: maxConnections });
      // An idle client whose backend goes away (server restart, pg_terminate_backend,
      // even a client still closing after destroy()) emits 'error' on the pool;
      // without a listener that would crash the process. The pool replaces it.
      pool.on("error", (error) => options.logger?.warn({ err: error.message }, "an idle PostgreSQL connection failed; the pool will open another"));
      return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    }
    case "mssql":
      return new Kysely<DB>({ dialect: mssqlDialect(target, maxConnections) });
  }
}

/**
 * A Kysely (or transaction) over any schema: the parameter type of code that
 * works whatever tables a service's database has (migrations, dialect checks,
 * the messaging tables every service's database includes). Callers pass their
 * own typed instance.
 */
// biome-ignore lint/suspicious/noExplicitAny: Kysely's documented type for schema-independent code; Kysely<unknown> makes every table reference a type error.
export type AnyKysely = Kysely<any>;

/**
 * The dialect behind a Kysely instance or transaction, for the few queries
 * that must differ (row locking hints, paging, upserts).
 */
export function dialectOf(db: AnyKysely): DialectKind {
  // getExecutor() is marked internal in Kysely's typings but is the one place
  // the adapter is reachable from a transaction as well as from the root instance.
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof MssqlAdapter) return "mssql";
  if (adapter instanceof PostgresAdapter) return "postgres";
  if (adapter instanceof SqliteAdapter) return "sqlite";
  throw new Error(`unsupported Kysely dialect adapter ${adapter.constructor.name}; expected SQLite, PostgreSQL or SQL Server`);
}

export function isMssql(db: AnyKysely): boolean {
  return dialectOf(db) === "mssql";
}
