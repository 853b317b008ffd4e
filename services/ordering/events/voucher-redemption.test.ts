// Vouchers redeemed by the transaction that creates the order: the checkout
// handler called as the bus would call it (same event id twice = a
// redelivery), on a real database.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { OrderCancellationCause, OrderStatusChangedToCancelled } from "../../../gen/mel/events/v1/ordering_events.js";
import { findOrder } from "../order.repository.js";
import { changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";
import {
  countOrdersByStatus,
  openTestOrderingDatabase,
  quietLogger,
  type TestOrderingDatabase,
  testCheckout,
  testDialects,
  testMeta,
} from "../ordering.test-support.js";
import type { VoucherTerms } from "../voucher.js";
import { findVoucher, insertVoucher } from "../voucher.repository.js";
import { createUserCheckoutAcceptedHandler } from "./user-checkout-accepted.handler.js";

function testVoucher(overrides: Partial<VoucherTerms> = {}): VoucherTerms {
  return {
    code: `Mel-${randomUUID().slice(0, 8)}`,
    percentOff: 10,
    amountOff: undefined,
    remainingRedemptions: 5,
    validFrom: undefined,
    validUntil: undefined,
    active: true,
    ...overrides,
  };
}

/** The test checkout (4550 BRL) with `code` applied, as basket sends it. */
function checkoutWith(code: string, discountMinor: number, overrides: Parameters<typeof testCheckout>[0] = {}) {
  return testCheckout({
    voucherCode: code,
    discount: { currencyCode: "BRL", amountMinor: discountMinor },
    total: { currencyCode: "BRL", amountMinor: 4550 - discountMinor },
    ...overrides,
  });
}

for (const dialect of testDialects) {
  describe(`voucher redemption at checkout on ${dialect}`, () => {
    let store: TestOrderingDatabase;
    let deps: OrderFlowDeps;

    before(async () => {
      store = await openTestOrderingDatabase(dialect);
      deps = { db: store.db, logger: quietLogger, timings: { gracePeriodMs: 60_000 }, orderChanged: () => {} };
    });

    after(async () => {
      await store?.destroy();
    });

    it("gives the order its discount, rounded half-even, and takes one redemption", async () => {
      const voucher = testVoucher({ percentOff: 15 });
      await insertVoucher(store.db, voucher, new Date());
      // 15 % of 4550 is 682.5: half-even makes it 682.
      const checkout = checkoutWith(voucher.code.toLowerCase(), 682);
      await createUserCheckoutAcceptedHandler(deps)(checkout, testMeta("UserCheckoutAccepted", randomUUID()));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "SUBMITTED");
      assert.equal(order?.voucherCode, voucher.code);
      assert.deepEqual(order?.discount, { currencyCode: "BRL", amountMinor: 682 });
      assert.deepEqual(order?.total, { currencyCode: "BRL", amountMinor: 3868 });
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 4);
    });

    it("redeems once per order however often the checkout arrives", async () => {
      const voucher = testVoucher();
      await insertVoucher(store.db, voucher, new Date());
      const handle = createUserCheckoutAcceptedHandler(deps);
      const checkout = checkoutWith(voucher.code, 455);
      await handle(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await handle(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await handle(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}-again`));
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 4);
    });

    it("cancels the order, naming the voucher, when it was used up meanwhile", async () => {
      const voucher = testVoucher({ remainingRedemptions: 0 });
      await insertVoucher(store.db, voucher, new Date());
      const checkout = checkoutWith(voucher.code, 455);
      await createUserCheckoutAcceptedHandler(deps)(checkout, testMeta("UserCheckoutAccepted", randomUUID()));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "CANCELLED");
      assert.equal(order?.history.at(-1)?.reason, `cancelled: voucher ${voucher.code} has been used up`);
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 0);
    });

    it("cancels the order when the voucher does not exist", async () => {
      const checkout = checkoutWith("NO-SUCH-VOUCHER", 455);
      await createUserCheckoutAcceptedHandler(deps)(checkout, testMeta("UserCheckoutAccepted", randomUUID()));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "CANCELLED");
      assert.equal(order?.history.at(-1)?.reason, "cancelled: voucher NO-SUCH-VOUCHER does not exist");
      const announced = await store.db
        .selectFrom("outbox")
        .select("payload")
        .where("event_type", "=", "OrderStatusChangedToCancelled")
        .execute()
        .then((rows) => rows.map((row) => OrderStatusChangedToCancelled.decode(row.payload)).filter((event) => event.orderId === checkout.orderId));
      assert.deepEqual(
        announced.map((event) => event.cause),
        [OrderCancellationCause.ORDER_CANCELLATION_CAUSE_VOUCHER_UNAVAILABLE],
      );
    });

    it("gives the redemption back when the order is cancelled, once", async () => {
      const voucher = testVoucher({ remainingRedemptions: 1 });
      await insertVoucher(store.db, voucher, new Date());
      const checkout = checkoutWith(voucher.code, 455);
      await createUserCheckoutAcceptedHandler(deps)(checkout, testMeta("UserCheckoutAccepted", randomUUID()));
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 0);
      await store.db.transaction().execute((trx) =>
        changeOrderStatus(trx, checkout.orderId, "CANCELLED", {
          now: new Date(),
          timings: deps.timings,
          reason: "test",
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
        }),
      );
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 1);
      await assert.rejects(
        store.db.transaction().execute((trx) =>
          changeOrderStatus(trx, checkout.orderId, "CANCELLED", {
            now: new Date(),
            timings: deps.timings,
            cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
          }),
        ),
        /is CANCELLED and cannot become CANCELLED/,
      );
      assert.equal((await findVoucher(store.db, voucher.code))?.remainingRedemptions, 1);
    });
  });
}

describe("one voucher, many concurrent checkouts, on PostgreSQL", () => {
  let store: TestOrderingDatabase;

  before(async () => {
    store = await openTestOrderingDatabase("postgres", { maxConnections: 10 });
  });

  after(async () => {
    await store?.destroy();
  });

  it("500 checkouts on a voucher with 50 redemptions make exactly 50 discounted orders and cancel the rest naming the voucher", async () => {
    const voucher = testVoucher({ code: "RUSH50", remainingRedemptions: 50 });
    await insertVoucher(store.db, voucher, new Date());
    const handle = createUserCheckoutAcceptedHandler({ db: store.db, logger: quietLogger, timings: { gracePeriodMs: 60_000 }, orderChanged: () => {} });
    const checkouts = Array.from({ length: 500 }, (_, index) => checkoutWith("rush50", 455, { buyerId: `rush-buyer-${index}` }));
    await Promise.all(checkouts.map((checkout) => handle(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`))));

    assert.deepEqual(await countOrdersByStatus(store.db), { SUBMITTED: 50, CANCELLED: 450 });
    const orders = await Promise.all(checkouts.map((checkout) => findOrder(store.db, checkout.orderId)));
    const discounted = orders.filter((order) => order?.discount.amountMinor === 455);
    assert.equal(discounted.length, 50);
    assert.ok(discounted.every((order) => order?.status === "SUBMITTED" && order.total.amountMinor === 4095 && order.voucherCode === "RUSH50"));
    const cancelled = orders.filter((order) => order?.status === "CANCELLED");
    assert.ok(cancelled.every((order) => order?.discount.amountMinor === 0 && order.history.at(-1)?.reason === "cancelled: voucher RUSH50 has been used up"));
    assert.equal((await findVoucher(store.db, "RUSH50"))?.remainingRedemptions, 0);
    const redemptions = await store.db
      .selectFrom("voucher_redemption")
      .select((eb) => eb.fn.countAll().as("count"))
      .executeTakeFirstOrThrow();
    assert.equal(Number(redemptions.count), 50);
  });
});
