import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import { OrderCancellationCause } from "../../gen/mel/events/v1/ordering_events.js";
import { createDatabase, createMigrator, migrateToLatest } from "../../platform/sql/index.js";
import { captureMssqlStatements, createMssqlCompiler } from "../../platform/sql/mssql-compiler.test-support.js";
import { createEmptyTestDatabase } from "../../test/support/sql-database.js";
import { orderingMigrations } from "./migrations/index.js";
import { IllegalTransitionError, type Order, orderFromCheckout, transition } from "./order.js";
import { checkoutToDraft } from "./order.mapper.js";
import {
  claimStep,
  clearStep,
  findDueSteps,
  findOrder,
  findOrderIdByCheckoutRequest,
  findOrderRecord,
  insertOrder,
  listBuyerOrders,
  nextStepDueAt,
  type OrderCursor,
  rescheduleStep,
  searchOrders,
  updateOrderStatus,
} from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { changeOrderStatus, startOrder } from "./order-flow.js";
import { openTestOrderingDatabase, type TestOrderingDatabase, testCheckout, testDialects } from "./ordering.test-support.js";

const timings = { gracePeriodMs: 0 };

function newOrder(overrides: Parameters<typeof testCheckout>[0] = {}, at = new Date()): Order {
  return orderFromCheckout(checkoutToDraft(testCheckout(overrides)), at);
}

async function outboxTypes(db: Kysely<OrderingDatabase>): Promise<string[]> {
  return (await db.selectFrom("outbox").select("event_type").orderBy("seq").execute()).map((row) => row.event_type);
}

for (const dialect of testDialects) {
  describe(`order repository on ${dialect}`, () => {
    let store: TestOrderingDatabase;

    before(async () => {
      store = await openTestOrderingDatabase(dialect, { maxConnections: 4 });
    });

    after(async () => {
      await store?.destroy();
    });

    it("stores an order and reads it back whole", async () => {
      const order = newOrder({ total: { currencyCode: "BRL", amountMinor: 4550 } });
      await insertOrder(store.db, order, { correlationId: "corr-1", traceparent: undefined }, undefined);
      const record = await findOrderRecord(store.db, order.id);
      assert.deepEqual(record?.order, order);
      assert.deepEqual(record?.trace, { correlationId: "corr-1", traceparent: undefined });
      assert.equal(record?.step, undefined);
      assert.equal(await findOrderIdByCheckoutRequest(store.db, order.buyerId, order.checkoutRequestId), order.id);
      assert.equal(await findOrder(store.db, "no-such-order"), undefined);
    });

    it("refuses a second order for the same buyer's checkout request", async () => {
      const order = newOrder();
      await insertOrder(store.db, order, { correlationId: undefined, traceparent: undefined }, undefined);
      await assert.rejects(
        insertOrder(store.db, { ...newOrder(), checkoutRequestId: order.checkoutRequestId }, { correlationId: undefined, traceparent: undefined }, undefined),
        (error: Error) => /unique/i.test(error.message),
      );
    });

    it("keeps checkout request ids per buyer: another buyer's order may use the same one", async () => {
      const first = newOrder({ buyerId: "buyer-same-request-a" });
      const second = newOrder({ buyerId: "buyer-same-request-b", requestId: first.checkoutRequestId });
      const noTrace = { correlationId: undefined, traceparent: undefined };
      await insertOrder(store.db, first, noTrace, undefined);
      await insertOrder(store.db, second, noTrace, undefined);
      assert.equal(await findOrderIdByCheckoutRequest(store.db, first.buyerId, first.checkoutRequestId), first.id);
      assert.equal(await findOrderIdByCheckoutRequest(store.db, second.buyerId, first.checkoutRequestId), second.id);
      assert.equal(await findOrderIdByCheckoutRequest(store.db, "buyer-without-orders", first.checkoutRequestId), undefined);
    });

    it("writes a status change only on the version it was decided on", async () => {
      const order = newOrder();
      await insertOrder(store.db, order, { correlationId: undefined, traceparent: undefined }, undefined);
      const first = transition(order, "AWAITING_VALIDATION", new Date());
      const stale = transition(order, "CANCELLED", new Date(), { reason: "late" });
      assert.equal(await updateOrderStatus(store.db, first, undefined), true);
      assert.equal(await updateOrderStatus(store.db, stale, undefined), false);
      const stored = await findOrder(store.db, order.id);
      assert.equal(stored?.status, "AWAITING_VALIDATION");
      assert.equal(stored?.version, 2);
      assert.deepEqual(
        stored?.history.map((change) => change.status),
        ["SUBMITTED", "AWAITING_VALIDATION"],
      );
    });

    it("lets exactly one of two racing status changes win; the other sees the winner's status", async () => {
      const order = newOrder();
      await store.db.transaction().execute((trx) => startOrder(trx, order, { correlationId: "corr-race", traceparent: undefined }, timings));
      const attempts = await Promise.allSettled([
        store.db.transaction().execute((trx) => changeOrderStatus(trx, order.id, "AWAITING_VALIDATION", { now: new Date(), timings })),
        store.db.transaction().execute((trx) =>
          changeOrderStatus(trx, order.id, "CANCELLED", {
            now: new Date(),
            timings,
            reason: "buyer",
            cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
          }),
        ),
      ]);
      const won = attempts.filter((attempt) => attempt.status === "fulfilled");
      const lost = attempts.filter((attempt) => attempt.status === "rejected");
      const stored = await findOrder(store.db, order.id);
      if (won.length === 2) {
        // SUBMITTED → AWAITING_VALIDATION → CANCELLED is legal in that order: both may apply, one after the other.
        assert.equal(stored?.status, "CANCELLED");
        assert.deepEqual(
          stored?.history.map((change) => change.status),
          ["SUBMITTED", "AWAITING_VALIDATION", "CANCELLED"],
        );
      } else {
        assert.equal(won.length, 1);
        assert.ok((lost[0] as PromiseRejectedResult).reason instanceof IllegalTransitionError);
        assert.equal(stored?.status, "CANCELLED");
        assert.equal(stored?.version, 2);
      }
    });

    it("never applies two cancellations of one order, however they race", async () => {
      const order = newOrder();
      await store.db.transaction().execute((trx) => startOrder(trx, order, { correlationId: undefined, traceparent: undefined }, timings));
      const attempts = await Promise.allSettled(
        Array.from({ length: 4 }, () =>
          store.db.transaction().execute((trx) =>
            changeOrderStatus(trx, order.id, "CANCELLED", {
              now: new Date(),
              timings,
              reason: "x",
              cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
            }),
          ),
        ),
      );
      assert.equal(attempts.filter((attempt) => attempt.status === "fulfilled").length, 1);
      for (const attempt of attempts) if (attempt.status === "rejected") assert.ok(attempt.reason instanceof IllegalTransitionError);
      const stored = await findOrder(store.db, order.id);
      assert.deepEqual(
        stored?.history.map((change) => change.status),
        ["SUBMITTED", "CANCELLED"],
      );
    });

    it("writes each status change's event to the outbox in the same transaction, with the checkout's trace", async () => {
      const order = newOrder();
      const before = (await outboxTypes(store.db)).length;
      await store.db.transaction().execute((trx) => startOrder(trx, order, { correlationId: "corr-flow", traceparent: undefined }, timings));
      await store.db.transaction().execute((trx) => changeOrderStatus(trx, order.id, "AWAITING_VALIDATION", { now: new Date(), timings }));
      // A refused change leaves no event behind.
      await assert.rejects(
        store.db.transaction().execute((trx) => changeOrderStatus(trx, order.id, "PAID", { now: new Date(), timings })),
        IllegalTransitionError,
      );
      await store.db.transaction().execute((trx) =>
        changeOrderStatus(trx, order.id, "CANCELLED", {
          now: new Date(),
          timings,
          reason: "buyer",
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
        }),
      );
      const rows = await store.db.selectFrom("outbox").select(["event_type", "correlation_id"]).orderBy("seq").execute();
      assert.deepEqual(
        rows.slice(before).map((row) => row.event_type),
        // Each change also announces the whole order, at its new version, for the read model.
        ["OrderStarted", "OrderViewChanged", "OrderStatusChangedToAwaitingValidation", "OrderViewChanged", "OrderStatusChangedToCancelled", "OrderViewChanged"],
      );
      assert.ok(rows.slice(before).every((row) => row.correlation_id === "corr-flow"));
    });

    it("lists a buyer's orders newest first, page by page, and nobody else's", async () => {
      const buyerId = `buyer-list-${dialect}`;
      const base = Date.parse("2024-06-01T00:00:00.000Z");
      const created: Order[] = [];
      for (let index = 0; index < 7; index++) {
        // Two orders share each instant so the id tie-break is exercised.
        const order = newOrder({ buyerId }, new Date(base + Math.floor(index / 2) * 1000));
        await insertOrder(store.db, order, { correlationId: undefined, traceparent: undefined }, undefined);
        created.push(order);
      }
      await insertOrder(store.db, newOrder({ buyerId: "someone-else" }), { correlationId: undefined, traceparent: undefined }, undefined);
      const expected = [...created].sort((a, b) => b.createTime.getTime() - a.createTime.getTime() || (a.id < b.id ? 1 : -1)).map((order) => order.id);
      const seen: string[] = [];
      let cursor: { createTime: string; id: string } | undefined;
      for (;;) {
        const page = await listBuyerOrders(store.db, buyerId, 3, cursor);
        seen.push(...page.map((order) => order.id));
        if (page.length < 3) break;
        const last = page.at(-1) as Order;
        cursor = { createTime: last.createTime.toISOString(), id: last.id };
      }
      assert.deepEqual(seen, expected);
      const [firstOrder] = await listBuyerOrders(store.db, buyerId, 1);
      assert.equal(firstOrder?.lines.length, 2);
      assert.equal(firstOrder?.history.length, 1);
    });

    it("searches every buyer's orders of one status newest first, page by page", async () => {
      const base = Date.parse("2031-03-01T00:00:00.000Z");
      const noTrace = { correlationId: undefined, traceparent: undefined };
      const wanted: Order[] = [];
      for (let index = 0; index < 5; index++) {
        // Two orders share each instant so the id tie-break is exercised; the buyers differ.
        const order = newOrder({ buyerId: `buyer-search-${index % 3}` }, new Date(base + Math.floor(index / 2) * 1000));
        await insertOrder(store.db, order, noTrace, undefined);
        await updateOrderStatus(store.db, transition(order, "CANCELLED", order.createTime, { reason: "search" }), undefined);
        wanted.push(order);
      }
      // Newer, but still SUBMITTED: another status is left out.
      const submitted = newOrder({ buyerId: "buyer-search-0" }, new Date(base + 10_000));
      await insertOrder(store.db, submitted, noTrace, undefined);
      const expected = [...wanted].sort((a, b) => b.createTime.getTime() - a.createTime.getTime() || (a.id < b.id ? 1 : -1)).map((order) => order.id);
      // Other tests' orders are older than these: the first pages are all this test's.
      const seen: string[] = [];
      let cursor: OrderCursor | undefined;
      while (seen.length < expected.length) {
        const page = await searchOrders(store.db, "CANCELLED", 2, cursor);
        assert.ok(page.length > 0, `page after ${seen.length} orders is empty`);
        assert.ok(page.every((order) => order.status === "CANCELLED"));
        seen.push(...page.map((order) => order.id));
        const last = page.at(-1) as Order;
        cursor = { createTime: last.createTime.toISOString(), id: last.id };
      }
      assert.deepEqual(seen.slice(0, expected.length), expected);
      const [newest] = await searchOrders(store.db, undefined, 1);
      assert.equal(newest?.id, submitted.id, "no status means any status");
      assert.equal(newest?.lines.length, 2);
    });

    it("keeps scheduled steps durable: due, claimed by one runner, rescheduled, cleared", async () => {
      const order = newOrder();
      const dueAt = new Date(Date.now() - 1000);
      await insertOrder(store.db, order, { correlationId: undefined, traceparent: undefined }, { step: "await-validation", dueAt });
      const now = new Date();
      assert.ok((await findDueSteps(store.db, now, 1000)).some((due) => due.orderId === order.id && due.step === "await-validation"));
      const claims = await Promise.all(
        Array.from({ length: 3 }, () => claimStep(store.db, order.id, "await-validation", now, new Date(now.getTime() + 60_000))),
      );
      assert.deepEqual(claims.filter(Boolean).length, 1, "exactly one runner holds the step");
      assert.ok(!(await findDueSteps(store.db, now, 1000)).some((due) => due.orderId === order.id), "a held step is not due for others");
      assert.equal(await claimStep(store.db, order.id, "authorize-payment", now, new Date(now.getTime() + 60_000)), false, "only the step the order waits for");
      const retryAt = new Date(now.getTime() + 5000);
      await rescheduleStep(store.db, order.id, "await-validation", retryAt, "gateway down");
      const record = await findOrderRecord(store.db, order.id);
      assert.equal(record?.step?.dueAt.toISOString(), retryAt.toISOString());
      assert.equal(record?.step?.attempts, 1);
      const next = await nextStepDueAt(store.db, now);
      assert.ok(next !== undefined && next.getTime() <= retryAt.getTime());
      // After the lease ends (or once rescheduled) another runner may take it.
      assert.equal(await claimStep(store.db, order.id, "await-validation", retryAt, new Date(retryAt.getTime() + 1000)), true);
      await clearStep(store.db, order.id, "await-validation");
      assert.equal((await findOrderRecord(store.db, order.id))?.step, undefined);
    });

    it("a status change replaces the step the order waited for", async () => {
      const order = newOrder();
      await store.db.transaction().execute((trx) => startOrder(trx, order, { correlationId: undefined, traceparent: undefined }, { gracePeriodMs: 60_000 }));
      const waiting = await findOrderRecord(store.db, order.id);
      assert.equal(waiting?.step?.step, "await-validation");
      assert.equal(waiting?.step?.dueAt.getTime(), order.createTime.getTime() + 60_000);
      await store.db.transaction().execute((trx) =>
        changeOrderStatus(trx, order.id, "CANCELLED", {
          now: new Date(),
          timings,
          reason: "buyer",
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
        }),
      );
      assert.equal((await findOrderRecord(store.db, order.id))?.step, undefined);
    });
  });
}

for (const dialect of testDialects) {
  it(`keeps every order, line and status change made before request ids became per buyer, on ${dialect}`, async () => {
    const empty = await createEmptyTestDatabase(dialect, "ordering");
    const db = createDatabase<OrderingDatabase>(empty.url, { variable: "MEL_ORDERING_DATABASE_URL" });
    try {
      const { error } = await createMigrator(db, orderingMigrations, { tablePrefix: "ordering" }).migrateTo("0001_ordering_tables");
      assert.equal(error, undefined);
      const earlier = newOrder({ buyerId: "buyer-before-0002" });
      await insertAsOf0001(db, transition(earlier, "CANCELLED", new Date(), { reason: "buyer" }).order);

      assert.ok((await migrateToLatest(db, orderingMigrations, { tablePrefix: "ordering" })).includes("0002_checkout_request_per_buyer"));
      const kept = await findOrderRecord(db, earlier.id);
      assert.equal(kept?.order.status, "CANCELLED");
      assert.deepEqual(kept?.order.lines, earlier.lines);
      assert.deepEqual(
        kept?.order.history.map((change) => change.status),
        ["SUBMITTED", "CANCELLED"],
      );
      // The lines and history still point at the order: an orphan row is refused.
      await assert.rejects(
        db
          .insertInto("order_line")
          .values({ ...lineRowFor("no-such-order"), line_no: 1 })
          .execute(),
        (error: Error) => /foreign key/i.test(error.message),
      );
      // And the new rule holds: another buyer may reuse the request id, the same buyer may not.
      await insertOrder(
        db,
        newOrder({ buyerId: "buyer-after-0002", requestId: earlier.checkoutRequestId }),
        { correlationId: undefined, traceparent: undefined },
        undefined,
      );
      await assert.rejects(
        insertOrder(
          db,
          newOrder({ buyerId: earlier.buyerId, requestId: earlier.checkoutRequestId }),
          { correlationId: undefined, traceparent: undefined },
          undefined,
        ),
        (error: Error) => /unique/i.test(error.message),
      );
    } finally {
      await db.destroy();
      await empty.remove();
    }
  });
}

/**
 * Writes `order` with the columns 0001 made, and no others: today's
 * insertOrder knows columns later migrations added.
 */
async function insertAsOf0001(db: Kysely<OrderingDatabase>, order: Order): Promise<void> {
  await db
    .insertInto("orders")
    .values({
      id: order.id,
      buyer_id: order.buyerId,
      checkout_request_id: order.checkoutRequestId,
      status: order.status,
      version: order.version,
      address_street: order.address.street,
      address_city: order.address.city,
      address_state: order.address.state,
      address_country: order.address.country,
      address_zip_code: order.address.zipCode,
      card_brand: order.paymentMethod.cardBrand,
      card_last4: order.paymentMethod.last4,
      card_expiry_month: order.paymentMethod.expiryMonth,
      card_expiry_year: order.paymentMethod.expiryYear,
      card_holder_name: order.paymentMethod.holderName,
      payment_token: order.paymentMethod.paymentToken,
      total_amount_minor: order.total.amountMinor,
      total_currency: order.total.currencyCode,
      authorization_id: null,
      correlation_id: "corr-0001",
      traceparent: null,
      pending_step: null,
      step_due_at: null,
      step_attempts: 0,
      step_locked_until: null,
      step_last_error: null,
      create_time: order.createTime.toISOString(),
      update_time: order.updateTime.toISOString(),
    } as never)
    .execute();
  await db
    .insertInto("order_line")
    .values(
      order.lines.map((line, index) => ({
        ...lineRowFor(order.id),
        line_no: index + 1,
        product_id: line.productId,
        product_name: line.productName,
        unit_price_minor: line.unitPrice.amountMinor,
        units: line.units,
      })),
    )
    .execute();
  await db
    .insertInto("order_status_change")
    .values(
      order.history.map((change, index) => ({
        order_id: order.id,
        seq: index + 1,
        status: change.status,
        reason: change.reason,
        change_time: change.changeTime.toISOString(),
      })),
    )
    .execute();
}

function lineRowFor(orderId: string) {
  return { order_id: orderId, product_id: "p", product_name: "P", picture_url: "", unit_price_minor: 100, unit_price_currency: "BRL", units: 1 };
}

describe("order repository on SQL Server (compiled)", () => {
  it("compiles every migration", async () => {
    const statements = await captureMssqlStatements(async (db) => {
      for (const name of Object.keys(orderingMigrations).sort()) await orderingMigrations[name]?.up(db);
    });
    const joined = statements.join("\n");
    assert.match(joined, /create table "orders"/);
    assert.match(joined, /nvarchar\(300\)/);
    assert.match(joined, /"step_due_at" varchar\(32\)/);
    assert.doesNotMatch(joined, /autoincrement|bigserial/i);
    // 0001's inline UNIQUE has a generated name on SQL Server: 0002 looks it up before replacing it with the per-buyer one.
    assert.match(joined, /exec\('alter table orders drop constraint ' \+ quotename\(@name\)\)/);
    assert.match(joined, /alter table "orders" add constraint "orders_buyer_checkout_request_unique" unique \("buyer_id", "checkout_request_id"\)/);
    assert.match(joined, /create index "orders_status_create_time" on "orders" \("status", "create_time", "id"\)/);
  });

  it("compiles the repository's statements to T-SQL (TOP, no LIMIT)", async () => {
    const { db, statements } = createMssqlCompiler<OrderingDatabase>();
    const order = newOrder();
    await insertOrder(db, order, { correlationId: "c", traceparent: undefined }, { step: "await-validation", dueAt: new Date() });
    await findOrderRecord(db, order.id);
    await listBuyerOrders(db, "buyer", 20, { createTime: new Date().toISOString(), id: "x" });
    await searchOrders(db, "PAID", 20, { createTime: new Date().toISOString(), id: "x" });
    await updateOrderStatus(db, transition(order, "CANCELLED", new Date()), undefined);
    await findDueSteps(db, new Date(), 10);
    await claimStep(db, order.id, "await-validation", new Date(), new Date());
    await rescheduleStep(db, order.id, "await-validation", new Date(), "e");
    await nextStepDueAt(db, new Date());
    const sqlText = statements.map((statement) => statement.sql);
    assert.ok(
      sqlText.some((text) => /select top\(\d+\)/i.test(text) && text.includes('from "orders"')),
      "TOP for limits",
    );
    assert.ok(
      sqlText.some((text) => /select top\(\d+\) \* from "orders" where "status" = @\d+ and \("create_time" < @\d+ or/.test(text)),
      "a status search pages by keyset",
    );
    assert.ok(
      sqlText.every((text) => !/\blimit\b/i.test(text)),
      "no LIMIT anywhere",
    );
    assert.ok(
      sqlText.some((text) => /update "orders" set .* where "id" = @\d+ and "version" = @\d+ and "status" = @\d+/.test(text)),
      "conditional status update",
    );
  });
});
