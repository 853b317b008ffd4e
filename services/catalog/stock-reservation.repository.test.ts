import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createMssqlCompiler } from "../../platform/sql/mssql-compiler.test-support.js";
import { insertTestBrandAndType, insertTestItem, openTestCatalogDatabase, type TestCatalogDatabase, testDialects } from "./catalog.test-support.js";
import { reserveOrderStock } from "./events/reserve-order-stock.js";
import { findItem } from "./item.repository.js";
import {
  closeReservation,
  findReservations,
  insertReservations,
  returnReservedUnits,
  sellReservedUnits,
  settleReservations,
} from "./stock-reservation.repository.js";

for (const dialect of testDialects) {
  describe(`stock reservations on ${dialect}`, () => {
    let store: TestCatalogDatabase;

    before(async () => {
      store = await openTestCatalogDatabase(dialect);
      await insertTestBrandAndType(store.db);
    });

    after(async () => {
      await store?.destroy();
    });

    async function stockOf(id: string): Promise<[number, number]> {
      const item = await findItem(store.db, id);
      assert.ok(item, `item ${id}`);
      return [item.availableStock, item.reservedStock];
    }

    it("reserves every line of an order and records what it holds", async () => {
      await insertTestItem(store.db, "r1-a", 5);
      await insertTestItem(store.db, "r1-b", 3);
      const outcome = await store.db.transaction().execute((trx) =>
        reserveOrderStock(
          trx,
          "order-1",
          [
            { productId: "r1-b", units: 1 },
            { productId: "r1-a", units: 2 },
            { productId: "r1-b", units: 2 },
          ],
          new Date(),
        ),
      );
      assert.deepEqual(outcome, {
        kind: "confirmed",
        lines: [
          { productId: "r1-a", units: 2 },
          { productId: "r1-b", units: 3 },
        ],
      });
      assert.deepEqual(await stockOf("r1-a"), [3, 2]);
      assert.deepEqual(await stockOf("r1-b"), [0, 3]);
      assert.deepEqual(
        (await findReservations(store.db, "order-1")).map((row) => [row.product_id, row.units, row.status]),
        [
          ["r1-a", 2, "reserved"],
          ["r1-b", 3, "reserved"],
        ],
      );
    });

    it("reserves nothing when one line is short and names every short line", async () => {
      await insertTestItem(store.db, "r2-a", 5);
      await insertTestItem(store.db, "r2-b", 1);
      const outcome = await store.db.transaction().execute((trx) =>
        reserveOrderStock(
          trx,
          "order-2",
          [
            { productId: "r2-a", units: 4 },
            { productId: "r2-b", units: 2 },
            { productId: "r2-missing", units: 1 },
          ],
          new Date(),
        ),
      );
      assert.deepEqual(outcome, {
        kind: "rejected",
        shortages: [
          { productId: "r2-b", requestedUnits: 2, availableUnits: 1 },
          { productId: "r2-missing", requestedUnits: 1, availableUnits: 0 },
        ],
      });
      assert.deepEqual(await stockOf("r2-a"), [5, 0]);
      assert.deepEqual(await stockOf("r2-b"), [1, 0]);
      assert.deepEqual(await findReservations(store.db, "order-2"), []);
    });

    it("rejects an order with unreservable lines or no lines at all", async () => {
      const zero = await store.db.transaction().execute((trx) => reserveOrderStock(trx, "order-3", [{ productId: "r1-a", units: 0 }], new Date()));
      assert.deepEqual(zero, { kind: "rejected", shortages: [{ productId: "r1-a", requestedUnits: 0, availableUnits: 0 }] });
      const empty = await store.db.transaction().execute((trx) => reserveOrderStock(trx, "order-3", [], new Date()));
      assert.deepEqual(empty, { kind: "rejected", shortages: [] });
    });

    it("does not reserve twice for an order that already holds a reservation", async () => {
      const again = await store.db.transaction().execute((trx) => reserveOrderStock(trx, "order-1", [{ productId: "r1-a", units: 2 }], new Date()));
      assert.deepEqual(again, { kind: "already-reserved" });
      assert.deepEqual(await stockOf("r1-a"), [3, 2]);
    });

    it("turns a reservation into a sale once", async () => {
      await insertTestItem(store.db, "r4", 10);
      await store.db.transaction().execute((trx) => reserveOrderStock(trx, "order-4", [{ productId: "r4", units: 4 }], new Date()));
      assert.deepEqual(await settleReservations(store.db, "order-4", "sold", new Date()), [{ productId: "r4", units: 4 }]);
      assert.deepEqual(await stockOf("r4"), [6, 0]);
      assert.deepEqual(await settleReservations(store.db, "order-4", "sold", new Date()), []);
      assert.deepEqual(await settleReservations(store.db, "order-4", "released", new Date()), [], "a sold order cannot be released");
      assert.deepEqual(await stockOf("r4"), [6, 0]);
    });

    it("releases a reservation once and releases nothing for an order without one", async () => {
      await insertTestItem(store.db, "r5", 10);
      await store.db.transaction().execute((trx) => reserveOrderStock(trx, "order-5", [{ productId: "r5", units: 7 }], new Date()));
      assert.deepEqual(await stockOf("r5"), [3, 7]);
      assert.deepEqual(await settleReservations(store.db, "order-5", "released", new Date()), [{ productId: "r5", units: 7 }]);
      assert.deepEqual(await stockOf("r5"), [10, 0]);
      assert.deepEqual(await settleReservations(store.db, "order-5", "released", new Date()), []);
      assert.deepEqual(await settleReservations(store.db, "never-reserved", "released", new Date()), []);
      assert.deepEqual(await stockOf("r5"), [10, 0]);
    });
  });
}

describe("stock reservation SQL on SQL Server (compiled, not run)", () => {
  it("reserves with one conditional UPDATE per line", async () => {
    const { db, statements } = createMssqlCompiler();
    await reserveOrderStock(db, "o", [{ productId: "p", units: 2 }], new Date());
    const sqlText = statements.map((statement) => statement.sql);
    assert.match(sqlText[0]!, /^select \* from "stock_reservation" where "order_id" = @1 order by "product_id"$/);
    assert.match(
      sqlText[1]!,
      /^update "catalog_item" set "available_stock" = "available_stock" - @1, "reserved_stock" = "reserved_stock" \+ @2, "update_time" = @3 where "id" = @4 and "available_stock" >= @5$/,
    );
    // The dummy driver reports no updated rows, so the line counts as short.
    assert.match(sqlText[2]!, /^select "available_stock" from "catalog_item" where "id" = @1$/);
  });

  it("compiles every reservation statement to T-SQL", async () => {
    const { db, statements } = createMssqlCompiler();
    const now = new Date();
    await settleReservations(db, "o", "sold", now);
    await insertReservations(
      db,
      "o",
      [
        { productId: "p", units: 1 },
        { productId: "q", units: 2 },
      ],
      now,
    );
    await closeReservation(db, "o", "p", "released", now);
    await sellReservedUnits(db, "p", 1, now);
    await returnReservedUnits(db, "p", 1, now);
    const sqlText = statements.map((statement) => statement.sql);
    assert.equal(sqlText.length, 5);
    assert.match(sqlText[0]!, /"status" = @\d+ order by "product_id"$/);
    assert.match(sqlText[1]!, /^insert into "stock_reservation" \(.*\) values \(.*\), \(.*\)$/);
    assert.match(sqlText[2]!, /where "order_id" = @\d+ and "product_id" = @\d+ and "status" = @\d+$/);
    assert.match(sqlText[3]!, /"reserved_stock" = "reserved_stock" - @1.* and "reserved_stock" >= @\d+$/);
    assert.match(sqlText[4]!, /"available_stock" = "available_stock" \+ @1, "reserved_stock" = "reserved_stock" - @2.* and "reserved_stock" >= @\d+$/);
  });
});
