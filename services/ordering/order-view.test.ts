// The order read model against the real MongoDB-protocol server (FerretDB v1
// in the tests) and ordering's real SQL databases: the version rule, the
// projection of OrderViewChanged events delivered twice and out of order, and
// the queries the API answers from it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OrderCancellationCause, OrderViewChanged } from "../../gen/mel/events/v1/ordering_events.js";
import { OrderStatus as ProtoOrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { createOrderViewChangedHandler } from "./events/order-view-changed.handler.js";
import { type Order, type OrderStatus, orderFromCheckout } from "./order.js";
import { checkoutToDraft, orderToProto } from "./order.mapper.js";
import { changeOrderStatus, startOrder } from "./order-flow.js";
import { salesPerDay } from "./order-reads.js";
import { viewFromProto } from "./order-view.mapper.js";
import { findOrderView, findOrderViews, upsertOrderView } from "./order-view.repository.js";
import { openTestReadModel, readModelDifferences, type TestReadModel } from "./order-view.test-support.js";
import { openTestOrderingDatabase, quietLogger, type TestOrderingDatabase, testCheckout, testDialects, testMeta } from "./ordering.test-support.js";

const timings = { gracePeriodMs: 0 };

function newOrder(overrides: Parameters<typeof testCheckout>[0] = {}, at = new Date()): Order {
  return orderFromCheckout(checkoutToDraft(testCheckout(overrides)), at);
}

/** `order` moved on to `status` by the domain rules, as the write side would store it at `at`. */
function viewOf(order: Order, version: number, status: ProtoOrderStatus = ProtoOrderStatus.ORDER_STATUS_SUBMITTED, at = new Date()) {
  return viewFromProto({ ...orderToProto(order), status }, version, at);
}

/** A deterministic shuffle (a small LCG), so a failure can be run again as it was. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let index = copy.length - 1; index > 0; index--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const other = state % (index + 1);
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

/** Runs `work` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}

after(() => stopMongoServer());

describe("the read model's version rule", () => {
  let store: TestReadModel;
  before(async () => {
    store = await openTestReadModel("order_view_version");
  });
  after(() => store?.destroy());

  it("never lets an older version overwrite a newer one, and a repeat of the same version changes nothing", async () => {
    const order = newOrder();
    assert.equal(await upsertOrderView(store.readModel, viewOf(order, 3, ProtoOrderStatus.ORDER_STATUS_STOCK_CONFIRMED)), "applied");
    assert.equal(await upsertOrderView(store.readModel, viewOf(order, 2, ProtoOrderStatus.ORDER_STATUS_AWAITING_VALIDATION)), "stale");
    assert.equal(await upsertOrderView(store.readModel, viewOf(order, 1)), "stale");
    assert.equal(await upsertOrderView(store.readModel, viewOf(order, 3, ProtoOrderStatus.ORDER_STATUS_CANCELLED)), "stale");
    let stored = await findOrderView(store.readModel, order.id);
    assert.deepEqual([stored?.version, stored?.status], [3, "STOCK_CONFIRMED"]);
    assert.equal(await upsertOrderView(store.readModel, viewOf(order, 4, ProtoOrderStatus.ORDER_STATUS_PAID)), "applied");
    stored = await findOrderView(store.readModel, order.id);
    assert.deepEqual([stored?.version, stored?.status], [4, "PAID"]);
  });

  it("ends at the highest version when many versions of one order are written at once", async () => {
    const order = newOrder();
    const statuses = [
      ProtoOrderStatus.ORDER_STATUS_SUBMITTED,
      ProtoOrderStatus.ORDER_STATUS_AWAITING_VALIDATION,
      ProtoOrderStatus.ORDER_STATUS_STOCK_CONFIRMED,
      ProtoOrderStatus.ORDER_STATUS_PAID,
    ];
    const versions = Array.from({ length: 24 }, (_, index) => index + 1);
    const outcomes = await Promise.all(
      shuffled(versions, 7).map((version) => upsertOrderView(store.readModel, viewOf(order, version, statuses[(version - 1) % statuses.length]))),
    );
    assert.ok(outcomes.includes("applied"));
    const stored = await findOrderView(store.readModel, order.id);
    assert.equal(stored?.version, 24);
    assert.equal(stored?.status, "PAID");
  });
});

/** The statuses order `index` of the projection test goes through after SUBMITTED: a mix of every outcome. */
function pathOf(index: number): OrderStatus[] {
  switch (index % 5) {
    case 0:
      return [];
    case 1:
      return ["AWAITING_VALIDATION"];
    case 2:
      return ["CANCELLED"];
    case 3:
      return ["AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID"];
    default:
      return ["AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID", "SHIPPED"];
  }
}

for (const dialect of testDialects) {
  describe(`the order projection on ${dialect}`, () => {
    let sql: TestOrderingDatabase;
    let store: TestReadModel;
    before(async () => {
      sql = await openTestOrderingDatabase(dialect, { maxConnections: 8 });
      store = await openTestReadModel(`order_view_projection_${dialect}`);
    });
    after(async () => {
      await store?.destroy();
      await sql?.destroy();
    });

    it("equals the write side after 500 orders whose every event is delivered twice, in shuffled order", async () => {
      const base = Date.parse("2025-01-01T10:00:00.000Z");
      await inParallel(
        Array.from({ length: 500 }, (_, index) => index),
        8,
        async (index) => {
          const at = new Date(base + index * 60_000);
          const order = newOrder({ buyerId: `buyer-${index % 37}`, buyerEmail: `Buyer${index % 37}@Example.com` }, at);
          await sql.db.transaction().execute((trx) => startOrder(trx, order, { correlationId: `corr-${index}`, traceparent: undefined }, timings));
          for (const [step, status] of pathOf(index).entries()) {
            await sql.db.transaction().execute((trx) =>
              changeOrderStatus(trx, order.id, status, {
                now: new Date(at.getTime() + (step + 1) * 1000),
                timings,
                ...(status === "CANCELLED" ? { reason: "cancelled by the buyer", cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER } : {}),
                ...(status === "PAID" ? { authorizationId: `auth-${index}` } : {}),
              }),
            );
          }
        },
      );
      const rows = await sql.db.selectFrom("outbox").select(["id", "payload"]).where("event_type", "=", "OrderViewChanged").execute();
      assert.equal(
        rows.length,
        [...Array(500).keys()].reduce((sum, index) => sum + 1 + pathOf(index).length, 0),
        "one view per version",
      );
      const deliveries = shuffled(
        rows.flatMap((row) => [row, row]),
        42,
      );
      const handle = createOrderViewChangedHandler({ db: sql.db, readModel: store.readModel, logger: quietLogger });
      await inParallel(deliveries, 16, (row) => handle(OrderViewChanged.decode(row.payload), testMeta("OrderViewChanged", row.id)));
      assert.deepEqual(await readModelDifferences(sql.db, store.readModel), []);
      const handled = await sql.db.selectFrom("inbox").select("event_id").where("consumer", "=", "ordering.order-view").execute();
      assert.equal(handled.length, rows.length, "every event is in the inbox once");
    });
  });
}

describe("the read model's queries", () => {
  let store: TestReadModel;
  const orders: Array<{ order: Order; status: ProtoOrderStatus }> = [];
  const day = (offset: number, hour = 12) => new Date(Date.UTC(2024, 2, 10 + offset, hour, 0, 0));

  before(async () => {
    store = await openTestReadModel("order_view_queries");
    const seed: Array<[number, number, ProtoOrderStatus, string, string]> = [
      // [day offset, hour, status, email, currency]
      [0, 9, ProtoOrderStatus.ORDER_STATUS_PAID, "ana@example.com", "BRL"],
      [0, 23, ProtoOrderStatus.ORDER_STATUS_SHIPPED, "ANA@example.com", "BRL"],
      [0, 10, ProtoOrderStatus.ORDER_STATUS_PAID, "bia@example.com", "USD"],
      [0, 11, ProtoOrderStatus.ORDER_STATUS_CANCELLED, "bia@example.com", "BRL"],
      [1, 0, ProtoOrderStatus.ORDER_STATUS_AWAITING_VALIDATION, "ana@example.com", "BRL"],
      [2, 15, ProtoOrderStatus.ORDER_STATUS_PAID, "caio@example.com", "BRL"],
    ];
    for (const [offset, hour, status, email, currency] of seed) {
      const unit = { currencyCode: currency, amountMinor: 1000 + offset * 100 + hour };
      const order = newOrder(
        { buyerEmail: email, lines: [{ productId: "p", productName: "P", pictureUrl: "", unitPrice: unit, units: 2 }], total: undefined },
        day(offset, hour),
      );
      orders.push({ order, status });
      await upsertOrderView(store.readModel, viewOf(order, 1, status));
    }
  });
  after(() => store?.destroy());

  const idsOf = (views: Array<{ _id: string }>) => views.map((view) => view._id);
  const expectedIds = (keep: (entry: { order: Order; status: ProtoOrderStatus }) => boolean) =>
    orders
      .filter(keep)
      .sort((a, b) => b.order.createTime.getTime() - a.order.createTime.getTime())
      .map((entry) => entry.order.id);

  it("searches by buyer email whatever its case, newest first", async () => {
    const found = await findOrderViews(store.readModel, { buyerEmail: "Ana@Example.COM" }, 10);
    assert.deepEqual(
      idsOf(found),
      expectedIds((entry) => entry.order.buyerEmail.toLowerCase() === "ana@example.com"),
    );
    assert.equal(found.length, 3);
  });

  it("searches by the time placed: from included, until excluded, with status and email together", async () => {
    const placedFrom = day(0, 10);
    const placedUntil = day(1, 0);
    const inRange = await findOrderViews(store.readModel, { placedFrom, placedUntil }, 10);
    assert.deepEqual(
      idsOf(inRange),
      expectedIds((entry) => entry.order.createTime >= placedFrom && entry.order.createTime < placedUntil),
    );
    assert.equal(inRange.length, 3, "10:00 is in, the next day's 00:00 is not");
    const paidOfBia = await findOrderViews(store.readModel, { placedFrom, placedUntil, status: "PAID", buyerEmail: "bia@example.com" }, 10);
    assert.deepEqual(
      idsOf(paidOfBia),
      expectedIds((entry) => entry.order.buyerEmail === "bia@example.com" && entry.status === ProtoOrderStatus.ORDER_STATUS_PAID),
    );
  });

  it("pages a filtered search by keyset", async () => {
    const first = await findOrderViews(store.readModel, { buyerEmail: "ana@example.com" }, 2);
    const last = first.at(-1);
    assert.ok(last);
    const rest = await findOrderViews(store.readModel, { buyerEmail: "ana@example.com" }, 2, { createTime: last.createTime.toISOString(), id: last._id });
    assert.deepEqual(
      [...idsOf(first), ...idsOf(rest)],
      expectedIds((entry) => entry.order.buyerEmail.toLowerCase() === "ana@example.com"),
    );
  });

  it("adds up PAID and SHIPPED orders per UTC day placed and per currency, listing every day of the range", async () => {
    const days = await salesPerDay(store.readModel, "2024-03-09", "2024-03-12");
    const total = (offset: number, hour: number) => (1000 + offset * 100 + hour) * 2;
    assert.deepEqual(days, [
      { day: "2024-03-09", orderCount: 0, byCurrency: [] },
      {
        day: "2024-03-10",
        orderCount: 3,
        byCurrency: [
          { currencyCode: "BRL", orderCount: 2, revenueMinor: total(0, 9) + total(0, 23) },
          { currencyCode: "USD", orderCount: 1, revenueMinor: total(0, 10) },
        ],
      },
      // The awaiting order of the 11th is not a sale (yet).
      { day: "2024-03-11", orderCount: 0, byCurrency: [] },
      { day: "2024-03-12", orderCount: 1, byCurrency: [{ currencyCode: "BRL", orderCount: 1, revenueMinor: total(2, 15) }] },
    ]);
  });
});
