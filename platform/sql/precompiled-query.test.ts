import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Kysely, sql } from "kysely";
import { createEmptyTestDatabase, type EmptyTestDatabase, testDialects } from "../../test/support/sql-database.js";
import { createDatabase, precompiledQuery } from "./index.js";

interface ShelfTable {
  id: string;
  shelf: number;
  title: string;
}
type ShelfDb = { book: ShelfTable };

for (const dialect of testDialects) {
  describe(`precompiledQuery on ${dialect}`, () => {
    let database: EmptyTestDatabase;
    let db: Kysely<ShelfDb>;
    before(async () => {
      database = await createEmptyTestDatabase(dialect, "precompiled");
      db = createDatabase<ShelfDb>(database.url, { variable: "MEL_TEST_DATABASE_URL" });
      await db.schema
        .createTable("book")
        .addColumn("id", "varchar(40)", (column) => column.primaryKey())
        .addColumn("shelf", "integer", (column) => column.notNull())
        .addColumn("title", "varchar(200)", (column) => column.notNull())
        .execute();
      await db
        .insertInto("book")
        .values([
          { id: "a", shelf: 1, title: "Grande Sertão" },
          { id: "b", shelf: 1, title: "Vidas Secas" },
          { id: "c", shelf: 2, title: "Dom Casmurro" },
        ])
        .execute();
    });
    after(async () => {
      await db.destroy();
      await database.remove();
    });

    test("compiles once per database and binds each run's values", async () => {
      let builds = 0;
      const byId = precompiledQuery((target: Kysely<ShelfDb>, id: string) => {
        builds += 1;
        return target.selectFrom("book").select(["id", "title"]).where("id", "=", id);
      });
      assert.deepEqual(await byId.execute(db, "a"), [{ id: "a", title: "Grande Sertão" }]);
      assert.deepEqual(await byId.execute(db, "c"), [{ id: "c", title: "Dom Casmurro" }]);
      assert.deepEqual(await byId.execute(db, "missing"), []);
      assert.equal(builds, 1);
    });

    test("binds arguments by the position each took in the SQL, beside the query's own constants", async () => {
      // The arguments reach the SQL in the opposite order to the function's, and a constant sits between them.
      const onShelfExcept = precompiledQuery((target: Kysely<ShelfDb>, exceptId: string, shelf: number) =>
        target
          .selectFrom("book")
          .select("id")
          .where("shelf", "=", shelf)
          .where("title", "<>", "Livro que não existe")
          .where("id", "<>", exceptId)
          .orderBy("id"),
      );
      assert.deepEqual(await onShelfExcept.execute(db, "a", 1), [{ id: "b" }]);
      assert.deepEqual(await onShelfExcept.execute(db, "b", 1), [{ id: "a" }]);
      assert.deepEqual(await onShelfExcept.execute(db, "z", 2), [{ id: "c" }]);
    });

    test("runs inside a transaction, which sees the transaction's own writes", async () => {
      const byId = precompiledQuery((target: Kysely<ShelfDb>, id: string) => target.selectFrom("book").select("title").where("id", "=", id));
      await db
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto("book").values({ id: "d", shelf: 3, title: "Iracema" }).execute();
          assert.deepEqual(await byId.execute(trx, "d"), [{ title: "Iracema" }]);
          throw new Error("roll back");
        })
        .catch((error: unknown) => assert.equal((error as Error).message, "roll back"));
      assert.deepEqual(await byId.execute(db, "d"), []);
    });

    test("refuses a query that does not bind an argument as a parameter", async () => {
      const inText = precompiledQuery((target: Kysely<ShelfDb>, id: string) =>
        target.selectFrom("book").select("id").where(sql.ref("id"), "=", sql.lit(id.length)),
      );
      await assert.rejects(inText.execute(db, "a"), /must bind each of its 1 argument\(s\) as a parameter; it binds 0/);
    });
  });
}
