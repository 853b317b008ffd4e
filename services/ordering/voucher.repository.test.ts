// Vouchers in SQL on SQLite and PostgreSQL, and every statement compiled for
// SQL Server: codes unique whatever the case, a redemption that never takes
// the count below zero, and a redemption given back once.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isUniqueViolation } from "../../platform/sql/index.js";
import { captureMssqlStatements, createMssqlCompiler } from "../../platform/sql/mssql-compiler.test-support.js";
import { orderingMigrations } from "./migrations/index.js";
import type { OrderingDatabase } from "./order.table.js";
import { openTestOrderingDatabase, type TestOrderingDatabase, testDialects } from "./ordering.test-support.js";
import type { VoucherTerms } from "./voucher.js";
import {
  addRedemptionBack,
  findVoucher,
  insertVoucher,
  listVouchers,
  recordRedemption,
  returnRedemption,
  takeRedemption,
  updateVoucher,
} from "./voucher.repository.js";

let counter = 0;
function testTerms(overrides: Partial<VoucherTerms> = {}): VoucherTerms {
  counter += 1;
  return {
    code: `Mel-${process.pid}-${counter}`,
    percentOff: 10,
    amountOff: undefined,
    remainingRedemptions: 3,
    validFrom: undefined,
    validUntil: undefined,
    active: true,
    ...overrides,
  };
}

for (const dialect of testDialects) {
  describe(`voucher repository on ${dialect}`, () => {
    let store: TestOrderingDatabase;

    before(async () => {
      store = await openTestOrderingDatabase(dialect, { maxConnections: 4 });
    });

    after(async () => {
      await store?.destroy();
    });

    it("stores a voucher and finds it by its code in any case", async () => {
      const terms = testTerms({ percentOff: undefined, amountOff: { currencyCode: "BRL", amountMinor: 500 }, validUntil: new Date("2030-01-01T00:00:00Z") });
      const created = await insertVoucher(store.db, terms, new Date("2026-01-01T00:00:00Z"));
      assert.deepEqual(await findVoucher(store.db, terms.code.toLowerCase()), created);
      assert.deepEqual(await findVoucher(store.db, terms.code.toUpperCase()), created);
    });

    it("refuses a second voucher whose code differs only in case", async () => {
      const terms = testTerms();
      await insertVoucher(store.db, terms, new Date());
      await assert.rejects(insertVoucher(store.db, { ...terms, code: terms.code.toLowerCase() }, new Date()), (error: unknown) => isUniqueViolation(error));
    });

    it("takes redemptions down to zero and no further", async () => {
      const terms = testTerms({ remainingRedemptions: 2 });
      await insertVoucher(store.db, terms, new Date());
      assert.equal((await takeRedemption(store.db, terms.code, new Date()))?.remainingRedemptions, 1);
      assert.equal((await takeRedemption(store.db, terms.code, new Date()))?.remainingRedemptions, 0);
      assert.equal(await takeRedemption(store.db, terms.code, new Date()), undefined);
      assert.equal((await findVoucher(store.db, terms.code))?.remainingRedemptions, 0);
    });

    it("redeems nothing from an inactive voucher or one outside its dates", async () => {
      const now = new Date("2026-06-01T00:00:00Z");
      const inactive = testTerms({ active: false });
      const expired = testTerms({ validUntil: now });
      const early = testTerms({ validFrom: new Date("2026-06-02T00:00:00Z") });
      for (const terms of [inactive, expired, early]) {
        await insertVoucher(store.db, terms, now);
        assert.equal(await takeRedemption(store.db, terms.code, now), undefined, terms.code);
        assert.equal((await findVoucher(store.db, terms.code))?.remainingRedemptions, 3);
      }
    });

    it("gives a cancelled order's redemption back once", async () => {
      const terms = testTerms({ remainingRedemptions: 1 });
      await insertVoucher(store.db, terms, new Date());
      await takeRedemption(store.db, terms.code, new Date());
      await recordRedemption(store.db, `order-${terms.code}`, terms.code, { currencyCode: "BRL", amountMinor: 100 }, new Date());
      assert.equal(await returnRedemption(store.db, `order-${terms.code}`, new Date()), true);
      assert.equal(await returnRedemption(store.db, `order-${terms.code}`, new Date()), false);
      assert.equal((await findVoucher(store.db, terms.code))?.remainingRedemptions, 1);
      assert.equal(await returnRedemption(store.db, "order-without-voucher", new Date()), false);
    });

    it("writes an update only on the voucher as it was read", async () => {
      const terms = testTerms();
      const created = await insertVoucher(store.db, terms, new Date("2026-01-01T00:00:00Z"));
      await takeRedemption(store.db, terms.code, new Date("2026-01-02T00:00:00Z"));
      assert.equal(await updateVoucher(store.db, created, { ...terms, percentOff: 20 }, new Date()), false);
      const fresh = await findVoucher(store.db, terms.code);
      assert.ok(fresh);
      assert.equal(await updateVoucher(store.db, fresh, { ...terms, percentOff: 20, remainingRedemptions: fresh.remainingRedemptions }, new Date()), true);
      assert.equal((await findVoucher(store.db, terms.code))?.percentOff, 20);
    });

    it("lists vouchers by code, a page at a time", async () => {
      const all = await listVouchers(store.db, 1000);
      const firstPage = await listVouchers(store.db, 2);
      const secondPage = await listVouchers(store.db, 2, firstPage.at(-1)?.code.toUpperCase());
      assert.deepEqual(
        [...firstPage, ...secondPage].map((voucher) => voucher.code),
        all.slice(0, 4).map((voucher) => voucher.code),
      );
    });
  });
}

describe("voucher SQL on SQL Server", () => {
  it("compiles the voucher migration", async () => {
    const statements = await captureMssqlStatements(async (db) => {
      await orderingMigrations["0004_vouchers"]?.up(db);
    });
    const joined = statements.join("\n");
    assert.match(joined, /create table "voucher" \("code_key" varchar\(40\) primary key/);
    assert.match(joined, /"active" bit not null/);
    assert.match(joined, /alter table "orders" add "voucher_code" nvarchar\(40\)/);
    assert.match(joined, /alter table "orders" add "discount_minor" bigint default 0 not null/);
  });

  it("compiles every voucher query", async () => {
    const { db, statements } = createMssqlCompiler<OrderingDatabase>();
    const terms = testTerms();
    const voucher = await insertVoucher(db, terms, new Date());
    await findVoucher(db, terms.code);
    await updateVoucher(db, voucher, terms, new Date());
    await listVouchers(db, 20, "A");
    await takeRedemption(db, terms.code, new Date());
    await recordRedemption(db, "order-1", terms.code, { currencyCode: "BRL", amountMinor: 1 }, new Date());
    await returnRedemption(db, "order-1", new Date());
    await addRedemptionBack(db, "MEL", new Date());
    const sqlText = statements.map((statement) => statement.sql);
    assert.ok(
      sqlText.some((text) => /select top\(\d+\)|top \(@\d+\)|select top/i.test(text) && text.includes('from "voucher"')),
      sqlText.join("\n"),
    );
    assert.ok(
      sqlText.some((text) => text.includes('"remaining_redemptions" = "remaining_redemptions" - @')),
      sqlText.join("\n"),
    );
    assert.ok(
      sqlText.some((text) => text.includes('"remaining_redemptions" = "remaining_redemptions" + @')),
      sqlText.join("\n"),
    );
  });
});
