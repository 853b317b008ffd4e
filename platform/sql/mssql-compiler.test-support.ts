// SQL Server without a SQL Server: a Kysely on the MSSQL adapter and compiler
// with a driver that never connects. No SQL Server runs on our machines, so
// tests prove the T-SQL path by compiling every query and migration with it.

import { type CompiledQuery, DummyDriver, Kysely, MssqlAdapter, MssqlIntrospector, MssqlQueryCompiler } from "kysely";
import type { AnyKysely } from "./database.js";

/**
 * A Kysely whose dialect is SQL Server and whose driver returns no rows. Every
 * statement it "executes" is appended to `statements`, so a migration's `up`
 * run against it yields its T-SQL.
 */
export function createMssqlCompiler<DB = any>(): { db: Kysely<DB>; statements: CompiledQuery[] } {
  const statements: CompiledQuery[] = [];
  const db = new Kysely<DB>({
    dialect: {
      createAdapter: () => new MssqlAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (inner) => new MssqlIntrospector(inner),
      createQueryCompiler: () => new MssqlQueryCompiler(),
    },
    log: (event) => {
      if (event.level === "query") statements.push(event.query);
    },
  });
  return { db, statements };
}

/**
 * Runs `work` (typically a migration's `up`) on a never-connecting SQL Server
 * Kysely and returns the T-SQL of every statement it executed, in order.
 */
export async function captureMssqlStatements(work: (db: AnyKysely) => Promise<unknown>): Promise<string[]> {
  const { db, statements } = createMssqlCompiler();
  await work(db);
  return statements.map((statement) => statement.sql);
}
