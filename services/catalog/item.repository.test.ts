import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { captureMssqlStatements, createMssqlCompiler } from "../../platform/sql/mssql-compiler.test-support.js";
import { insertTestBrandAndType, insertTestItem, openTestCatalogDatabase, type TestCatalogDatabase, testDialects, testDraft } from "./catalog.test-support.js";
import { demoCatalogSize, seedDemoCatalog } from "./demo-catalog.js";
import type { Item } from "./item.js";
import {
  adjustAvailableStock,
  deleteUnreservedItem,
  findItem,
  findItemsByIds,
  insertItem,
  itemSortKey,
  listBrands,
  listItems,
  listTypes,
  updateItem,
} from "./item.repository.js";
import { encodePageToken, type ItemListRequest, type ItemOrder, parseItemListRequest } from "./item-query.js";
import { catalogMigrations } from "./migrations/index.js";
import { reserveUnits } from "./stock-reservation.repository.js";

const request: ItemListRequest = { pageSize: 0, pageToken: "", pageNumber: 0, brandId: "", typeId: "", query: "", order: "name_asc" };

for (const dialect of testDialects) {
  describe(`item repository on ${dialect}`, () => {
    let store: TestCatalogDatabase;

    before(async () => {
      store = await openTestCatalogDatabase(dialect);
      assert.equal(await seedDemoCatalog(store.db, new Date()), true);
    });

    after(async () => {
      await store?.destroy();
    });

    it("seeds the demo catalogue once", async () => {
      assert.equal((await listBrands(store.db)).length, demoCatalogSize.brands);
      assert.equal((await listTypes(store.db)).length, demoCatalogSize.types);
      assert.equal(await seedDemoCatalog(store.db, new Date()), false);
      const page = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 100 }));
      assert.equal(page.totalCount, demoCatalogSize.items);
      assert.ok(page.items.every((item) => item.price.currencyCode === "BRL" && item.price.amountMinor > 0));
    });

    for (const order of ["name_asc", "name_desc", "price_asc", "price_desc"] as const) {
      it(`walks every item exactly once by cursor, sorted ${order}`, async () => {
        const seen = await walkAllPages(store, order, 7);
        assert.equal(seen.length, demoCatalogSize.items);
        assert.equal(new Set(seen.map((item) => item.id)).size, seen.length);
        const keys = seen.map((item) => itemSortKey(item, order));
        const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        if (order.endsWith("desc")) sorted.reverse();
        assert.deepEqual(keys, sorted);
      });
    }

    it("keeps a cursor stable when an item is added before it", async () => {
      const first = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 5 }));
      const last = first.items.at(-1)!;
      const token = encodePageToken(parseItemListRequest(request), { key: itemSortKey(last, "name_asc"), id: last.id });
      const expected = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 5, pageToken: token }));
      await insertTestBrandAndType(store.db).catch(() => undefined);
      await insertTestItem(store.db, "aaa-first-by-name", 1, { name: "AAA primeiro" });
      const after = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 5, pageToken: token }));
      assert.deepEqual(
        after.items.map((item) => item.id),
        expected.items.map((item) => item.id),
      );
      assert.equal(await deleteUnreservedItem(store.db, "aaa-first-by-name"), true);
    });

    it("pages by number, the last page flagged as last", async () => {
      const pages = Math.ceil(demoCatalogSize.items / 10);
      const last = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 10, pageNumber: pages }));
      assert.equal(last.items.length, demoCatalogSize.items - (pages - 1) * 10);
      assert.equal(last.hasMore, false);
      const beyond = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 10, pageNumber: pages + 1 }));
      assert.deepEqual(beyond.items, []);
      assert.equal(beyond.totalCount, demoCatalogSize.items);
    });

    it("searches names ignoring case and accents", async () => {
      const found = await listItems(store.db, parseItemListRequest({ ...request, query: "TERMICA" }));
      assert.deepEqual(
        found.items.map((item) => item.name),
        ["Caneca Térmica Abelha Rainha"],
      );
      const bone = await listItems(store.db, parseItemListRequest({ ...request, query: "bone" }));
      assert.ok(bone.items.length >= 3, `expected the caps, got ${bone.items.map((item) => item.name).join(", ")}`);
      assert.ok(bone.items.every((item) => item.name.toLowerCase().includes("bon")));
    });

    it("treats LIKE wildcards in the query as plain characters", async () => {
      for (const query of ["%", "_", "[a]", "!"]) {
        const found = await listItems(store.db, parseItemListRequest({ ...request, query }));
        assert.equal(found.totalCount, 0, `query ${query}`);
      }
      const [brand] = await listBrands(store.db);
      await insertTestItem(store.db, "percent-item", 1, { name: "Desconto 100% mel", brandId: brand!.id, typeId: (await listTypes(store.db))[0]!.id });
      const found = await listItems(store.db, parseItemListRequest({ ...request, query: "100%" }));
      assert.deepEqual(
        found.items.map((item) => item.id),
        ["percent-item"],
      );
      assert.equal(await deleteUnreservedItem(store.db, "percent-item"), true);
    });

    it("filters by brand and type and counts the filtered total", async () => {
      const brands = await listBrands(store.db);
      const jatai = brands.find((brand) => brand.name === "Jataí")!;
      const page = await listItems(store.db, parseItemListRequest({ ...request, brandId: jatai.id, pageSize: 2 }));
      assert.equal(page.items.length, 2);
      assert.ok(page.totalCount > 2);
      assert.equal(page.hasMore, true);
      assert.ok(page.items.every((item) => item.brandId === jatai.id && item.brandName === "Jataí"));
      const none = await listItems(store.db, parseItemListRequest({ ...request, brandId: jatai.id, query: "mochila urbana" }));
      assert.equal(none.totalCount, 0);
      assert.deepEqual(none.items, []);
    });

    it("finds many items by id in one query and leaves unknown ids out", async () => {
      const page = await listItems(store.db, parseItemListRequest({ ...request, pageSize: 3 }));
      const ids = page.items.map((item) => item.id);
      const found = await findItemsByIds(store.db, [...ids, "no-such-item"]);
      assert.deepEqual(found.map((item) => item.id).sort(), [...ids].sort());
      assert.deepEqual(await findItemsByIds(store.db, []), []);
    });

    it("round-trips an item with a bigint price and unicode text", async () => {
      const [brand] = await listBrands(store.db);
      const [type] = await listTypes(store.db);
      const now = new Date("2025-01-02T03:04:05.678Z");
      const draft = testDraft({
        name: "Pão de Mel “Especial” 🐝",
        price: { currencyCode: "BRL", amountMinor: 9_007_199_254_740_991 },
        brandId: brand!.id,
        typeId: type!.id,
      });
      await insertItem(store.db, "unicode-item", draft, 5, now);
      const item = await findItem(store.db, "unicode-item");
      assert.equal(item?.name, draft.name);
      assert.equal(item?.price.amountMinor, 9_007_199_254_740_991);
      assert.equal(item?.createTime.toISOString(), now.toISOString());
      assert.equal(item?.brandName, brand!.name);
      assert.equal(await deleteUnreservedItem(store.db, "unicode-item"), true);
    });

    it("updates only while the price is still the one read", async () => {
      const [brand] = await listBrands(store.db);
      const [type] = await listTypes(store.db);
      const draft = testDraft({ brandId: brand!.id, typeId: type!.id });
      await insertItem(store.db, "guarded-item", draft, 5, new Date());
      const changed = { ...draft, price: { currencyCode: "BRL", amountMinor: 2000 } };
      assert.equal(
        await updateItem(store.db, "guarded-item", changed, new Date(), { price: { currencyCode: "BRL", amountMinor: 999 }, priceVersion: 1 }),
        false,
      );
      assert.equal(await updateItem(store.db, "guarded-item", changed, new Date(), { price: draft.price, priceVersion: 2 }), false, "a price version not read");
      assert.equal(await updateItem(store.db, "guarded-item", changed, new Date(), { price: draft.price, priceVersion: 1 }), true);
      assert.equal((await findItem(store.db, "guarded-item"))?.price.amountMinor, 2000);
      const read = { price: changed.price, priceVersion: 2 };
      assert.equal(await updateItem(store.db, "guarded-item", { ...changed, maxStock: 4 }, new Date(), read), false, "max_stock below held stock");
      assert.equal(await updateItem(store.db, "no-such-item", changed, new Date(), read), false);
      assert.equal(await deleteUnreservedItem(store.db, "guarded-item"), true);
    });

    it("starts an item at price version 1 and moves it up by one with each price change, and only then", async () => {
      const [brand] = await listBrands(store.db);
      const [type] = await listTypes(store.db);
      const draft = testDraft({ brandId: brand!.id, typeId: type!.id });
      await insertItem(store.db, "versioned-item", draft, 5, new Date());
      const versionOf = async () => (await findItem(store.db, "versioned-item"))?.priceVersion;
      assert.equal(await versionOf(), 1);
      let current = draft;
      for (const [amountMinor, expected] of [
        [1100, 2],
        [1200, 3],
        [1000, 4],
      ] as const) {
        const next = { ...current, price: { currencyCode: "BRL", amountMinor } };
        assert.equal(await updateItem(store.db, "versioned-item", next, new Date(), { price: current.price, priceVersion: expected - 1 }), true);
        assert.equal(await versionOf(), expected, `after the price became ${amountMinor}`);
        current = next;
      }
      assert.equal(
        await updateItem(store.db, "versioned-item", { ...current, name: "Sem mudança de preço" }, new Date(), { price: current.price, priceVersion: 4 }),
        true,
      );
      assert.equal(await versionOf(), 4, "an update that keeps the price keeps its version");
      assert.equal(await deleteUnreservedItem(store.db, "versioned-item"), true);
    });

    it("adjusts stock only within 0 and max_stock, counting reserved units", async () => {
      const [brand] = await listBrands(store.db);
      const [type] = await listTypes(store.db);
      await insertItem(store.db, "stocked-item", testDraft({ brandId: brand!.id, typeId: type!.id, maxStock: 10 }), 4, new Date());
      assert.equal(await reserveUnits(store.db, "stocked-item", 2, new Date()), true);
      assert.equal(await adjustAvailableStock(store.db, "stocked-item", -3, new Date()), false);
      assert.equal(await adjustAvailableStock(store.db, "stocked-item", 7, new Date()), false);
      assert.equal(await adjustAvailableStock(store.db, "stocked-item", 6, new Date()), true);
      assert.equal(await adjustAvailableStock(store.db, "stocked-item", -8, new Date()), true);
      const item = await findItem(store.db, "stocked-item");
      assert.deepEqual([item?.availableStock, item?.reservedStock], [0, 2]);
      assert.equal(await deleteUnreservedItem(store.db, "stocked-item"), false, "reserved units keep the item");
      assert.equal(await adjustAvailableStock(store.db, "no-such-item", 1, new Date()), false);
    });
  });
}

async function walkAllPages(store: TestCatalogDatabase, order: ItemOrder, pageSize: number): Promise<Item[]> {
  const seen: Item[] = [];
  let pageToken = "";
  for (let pages = 0; pages < 100; pages++) {
    const query = parseItemListRequest({ ...request, order, pageSize, pageToken });
    const page = await listItems(store.db, query);
    seen.push(...page.items);
    if (!page.hasMore) return seen;
    const last = page.items.at(-1)!;
    pageToken = encodePageToken(query, { key: itemSortKey(last, order), id: last.id });
  }
  throw new Error("paging did not end");
}

describe("catalog SQL on SQL Server (compiled, not run)", () => {
  it("compiles every migration to T-SQL with nvarchar text and no SQLite/PostgreSQL-only syntax", async () => {
    const statements = await captureMssqlStatements(async (db) => {
      for (const name of Object.keys(catalogMigrations).sort()) await catalogMigrations[name]!.up(db);
    });
    const catalogTable = statements.find((statement) => statement.startsWith('create table "catalog_item"'));
    assert.ok(catalogTable, statements.join("\n"));
    assert.match(catalogTable, /"name" nvarchar\(200\)/);
    assert.match(catalogTable, /check \(available_stock >= 0\)/);
    assert.ok(
      statements.some((statement) => statement === 'alter table "catalog_item" add "price_version" integer default 1 not null'),
      statements.join("\n"),
    );
    for (const statement of statements) assert.doesNotMatch(statement, /\b(limit|returning|on conflict|autoincrement|bigserial)\b/i, statement);
  });

  it("pages with OFFSET … FETCH and keyset conditions without row values", async () => {
    const { db, statements } = createMssqlCompiler();
    const query = parseItemListRequest({ ...request, query: "mel", order: "price_desc" });
    await listItems(db, { ...query, start: { kind: "after", key: 1990, id: "x" } });
    await listItems(db, parseItemListRequest({ ...request, pageNumber: 2 }));
    const sqlText = statements.map((statement) => statement.sql);
    assert.equal(sqlText.length, 4);
    assert.match(sqlText[1]!, /order by "i"\."price_amount_minor" desc, "i"\."id" desc offset @\d+ rows fetch next @\d+ rows only$/);
    assert.match(sqlText[1]!, /"i"\."price_amount_minor" < @\d+ or \("i"\."price_amount_minor" = @\d+ and "i"\."id" < @\d+\)/);
    assert.match(sqlText[1]!, /like @\d+ escape '!'/);
    assert.match(sqlText[0]!, /^select count\(\*\) as "count"/);
    for (const statement of sqlText) assert.doesNotMatch(statement, /\blimit\b/);
  });

  it("compiles every item statement to T-SQL", async () => {
    const { db, statements } = createMssqlCompiler();
    const draft = testDraft();
    await findItem(db, "a");
    await findItemsByIds(db, ["a", "b"]);
    await listBrands(db);
    await listTypes(db);
    await insertItem(db, "a", draft, 1, new Date());
    await updateItem(db, "a", draft, new Date(), { price: draft.price, priceVersion: 1 });
    await updateItem(db, "a", { ...draft, price: { currencyCode: "BRL", amountMinor: 1 } }, new Date(), { price: draft.price, priceVersion: 1 });
    await adjustAvailableStock(db, "a", 1, new Date());
    await deleteUnreservedItem(db, "a");
    assert.equal(statements.length, 9);
    assert.match(
      statements[6]!.sql,
      /"price_version" = "price_version" \+ @\d+ where "id" = @\d+ and "price_amount_minor" = @\d+ and "price_currency" = @\d+ and "price_version" = @\d+/,
    );
    assert.match(
      statements[7]!.sql,
      /^update "catalog_item" set "available_stock" = "available_stock" \+ @1, "update_time" = @2 where "id" = @3 and "available_stock" \+ @4 >= @5 and "available_stock" \+ "reserved_stock" \+ @6 <= "max_stock"$/,
    );
  });
});
