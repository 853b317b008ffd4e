// Portable column types for schema-builder migrations. The same migration runs
// on SQLite, PostgreSQL and SQL Server; these pick the type each one needs
// where a single literal would be wrong on one of them.
import { type ColumnDataType, type CreateTableBuilder, type Expression, sql } from "kysely";
import { type AnyKysely, dialectOf } from "./database.js";

type ColumnType = ColumnDataType | Expression<unknown>;

/**
 * Text that may hold any Unicode character. SQL Server's varchar is a
 * single-byte code page, so it gets nvarchar; an indexed or unique column
 * must have a length there (nvarchar(max) cannot be indexed).
 */
export function unicodeText(db: AnyKysely, maxLength?: number): ColumnType {
  switch (dialectOf(db)) {
    case "mssql":
      return sql.raw(`nvarchar(${maxLength ?? "max"})`);
    case "postgres":
      return maxLength === undefined ? "text" : `varchar(${maxLength})`;
    case "sqlite":
      return "text";
  }
}

/** Raw bytes (protobuf payloads): blob, bytea or varbinary(max). */
export function bytesColumn(db: AnyKysely): ColumnType {
  switch (dialectOf(db)) {
    case "mssql":
      return sql.raw("varbinary(max)");
    case "postgres":
      return "bytea";
    case "sqlite":
      return "blob";
  }
}

/**
 * A true/false flag: boolean, bit, or a 0/1 integer on SQLite. Write `true` /
 * `false` everywhere (createDatabase makes SQLite bind them as 1/0); read it
 * back with Boolean(), since SQLite returns 0 or 1.
 */
export function booleanColumn(db: AnyKysely): ColumnType {
  switch (dialectOf(db)) {
    case "mssql":
      return sql.raw("bit");
    case "postgres":
      return "boolean";
    case "sqlite":
      return "integer";
  }
}

/**
 * An instant stored as an ISO-8601 UTC string (`Date#toISOString()`): every
 * dialect stores, compares and sorts it alike, and drivers hand it back
 * unchanged (no time-zone conversion by pg or tedious).
 */
export const isoTimeColumn: ColumnDataType = "varchar(32)";

/**
 * Adds an auto-numbered 64-bit primary key column named `name`: SQLite's
 * INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL's bigserial, SQL Server's
 * IDENTITY. Pass the builder of a createTable.
 */
export function withAutoIncrementPrimaryKey<TB extends string, C extends string, CN extends string>(
  db: AnyKysely,
  table: CreateTableBuilder<TB, C>,
  name: CN,
): CreateTableBuilder<TB, C | CN> {
  switch (dialectOf(db)) {
    case "mssql":
      return table.addColumn(name, "bigint", (col) => col.identity().primaryKey());
    case "postgres":
      return table.addColumn(name, "bigserial", (col) => col.primaryKey());
    case "sqlite":
      return table.addColumn(name, "integer", (col) => col.primaryKey().autoIncrement());
  }
}
