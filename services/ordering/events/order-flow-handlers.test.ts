// The saga's ordering side without the broker: handlers called as the bus
// would call them (same event id twice = a redelivery), the step runner run by
// hand, on a real database.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import {
  CheckoutRejected,
  OrderCancellationCause,
  OrderStatusChangedToAwaitingValidation,
  OrderStatusChangedToCancelled,
  OrderStatusChangedToPaid,
  OrderViewChanged,
} from "../../../gen/mel/events/v1/ordering_events.js";
import { OrderStatus } from "../../../gen/mel/ordering/v1/ordering.js";
import { createAwaitValidationStep } from "../await-validation.step.js";
import { orderToProto } from "../order.mapper.js";
import { findOrder, findOrderRecord } from "../order.repository.js";
import type { OrderingDatabase } from "../order.table.js";
import { changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";
import { createOrderStepRunner, type OrderStepRunner } from "../order-step-runner.js";
import {
  countOrdersByStatus,
  openTestOrderingDatabase,
  quietLogger,
  type TestOrderingDatabase,
  testCheckout,
  testDialects,
  testMeta,
} from "../ordering.test-support.js";
import { createAuthorizePaymentStep } from "../payment/authorize-payment.step.js";
import { createSimulatedPaymentGateway, declinedTestCard, type SimulatedPaymentGateway } from "../payment/simulated-payment-gateway.js";
import { createOrderStockConfirmedHandler } from "./order-stock-confirmed.handler.js";
import { createOrderStockRejectedHandler } from "./order-stock-rejected.handler.js";
import { createUserCheckoutAcceptedHandler } from "./user-checkout-accepted.handler.js";

/** The saga's events of order `orderId` in the outbox (OrderViewChanged, the read model's, is looked at by orderViews). */
async function outbox(db: Kysely<OrderingDatabase>, orderId: string) {
  const rows = await db.selectFrom("outbox").select(["event_type", "payload", "correlation_id"]).orderBy("seq").execute();
  // Every ordering event names its order in field 1; decode the ones we look into.
  return rows.filter((row) => row.event_type !== "OrderViewChanged" && Buffer.from(row.payload).includes(Buffer.from(orderId)));
}

/** The OrderViewChanged events of order `orderId` in the outbox, decoded. */
async function orderViews(db: Kysely<OrderingDatabase>, orderId: string) {
  const rows = await db.selectFrom("outbox").select("payload").where("event_type", "=", "OrderViewChanged").orderBy("seq").execute();
  return rows.map((row) => OrderViewChanged.decode(row.payload)).filter((view) => view.order?.id === orderId);
}

/** The CheckoutRejected events in the outbox for checkout request `requestId`. */
async function rejections(db: Kysely<OrderingDatabase>, requestId: string) {
  const rows = await db.selectFrom("outbox").select("payload").where("event_type", "=", "CheckoutRejected").orderBy("seq").execute();
  return rows.map((row) => CheckoutRejected.decode(row.payload)).filter((rejection) => rejection.checkoutRequestId === requestId);
}

for (const dialect of testDialects) {
  describe(`ordering's event handlers and steps on ${dialect}`, () => {
    let store: TestOrderingDatabase;
    let deps: OrderFlowDeps;
    let gateway: SimulatedPaymentGateway;
    let runner: OrderStepRunner;
    const changed: string[] = [];

    before(async () => {
      store = await openTestOrderingDatabase(dialect);
      gateway = createSimulatedPaymentGateway();
      deps = { db: store.db, logger: quietLogger, timings: { gracePeriodMs: 0 }, orderChanged: (id) => changed.push(id) };
      runner = createOrderStepRunner({
        db: store.db,
        logger: quietLogger,
        handlers: { "await-validation": createAwaitValidationStep(deps), "authorize-payment": createAuthorizePaymentStep({ ...deps, gateway }) },
      });
    });

    after(async () => {
      await store?.destroy();
    });

    const startOrder = createUserCheckoutAcceptedHandler;

    it("creates one order per checkout, however often the checkout arrives", async () => {
      const handle = startOrder(deps);
      const checkout = testCheckout();
      await handle(checkout, testMeta("UserCheckoutAccepted", "evt-1"));
      await handle(checkout, testMeta("UserCheckoutAccepted", "evt-1"));
      // The same request published again under a new event id.
      await handle(checkout, testMeta("UserCheckoutAccepted", "evt-1-again"));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "SUBMITTED");
      const events = await outbox(store.db, checkout.orderId);
      assert.deepEqual(
        events.map((row) => row.event_type),
        ["OrderStarted"],
      );
      assert.equal(events[0]?.correlation_id, "corr-test");
      assert.ok(changed.includes(checkout.orderId), "watchers and the relay are told after the commit");
    });

    it("makes an order for each of two buyers who send the same checkout request id", async () => {
      const handle = startOrder(deps);
      const first = testCheckout({ buyerId: "buyer-shared-request-a" });
      const second = testCheckout({ buyerId: "buyer-shared-request-b", requestId: first.requestId });
      await handle(first, testMeta("UserCheckoutAccepted", `evt-${first.orderId}`));
      await handle(second, testMeta("UserCheckoutAccepted", `evt-${second.orderId}`));
      assert.equal((await findOrder(store.db, first.orderId))?.buyerId, "buyer-shared-request-a");
      assert.equal((await findOrder(store.db, second.orderId))?.buyerId, "buyer-shared-request-b");
      assert.deepEqual(
        (await outbox(store.db, second.orderId)).map((row) => row.event_type),
        ["OrderStarted"],
      );
    });

    it("rejects a checkout whose order id another checkout already made: no second order, CheckoutRejected names the clash", async () => {
      const handle = startOrder(deps);
      const first = testCheckout({ buyerId: "buyer-order-id-a" });
      const clash = testCheckout({ buyerId: "buyer-order-id-b", orderId: first.orderId });
      await handle(first, testMeta("UserCheckoutAccepted", `evt-${first.orderId}`));
      await handle(clash, testMeta("UserCheckoutAccepted", `evt-clash-${first.orderId}`));
      assert.equal((await findOrder(store.db, first.orderId))?.buyerId, "buyer-order-id-a");
      assert.deepEqual(await rejections(store.db, clash.requestId), [
        {
          orderId: first.orderId,
          buyerId: "buyer-order-id-b",
          checkoutRequestId: clash.requestId,
          reason: `order id ${first.orderId} already belongs to another checkout`,
        },
      ]);
    });

    it("rejects a checkout request that already made a different order, naming that order", async () => {
      const handle = startOrder(deps);
      const first = testCheckout({ buyerId: "buyer-request-reused" });
      const again = testCheckout({ buyerId: "buyer-request-reused", requestId: first.requestId });
      await handle(first, testMeta("UserCheckoutAccepted", `evt-${first.orderId}`));
      await handle(again, testMeta("UserCheckoutAccepted", `evt-${again.orderId}`));
      assert.equal(await findOrder(store.db, again.orderId), undefined);
      assert.deepEqual(
        (await rejections(store.db, first.requestId)).map((rejection) => [rejection.orderId, rejection.reason]),
        [[again.orderId, `checkout request ${first.requestId} already made order ${first.orderId}; it cannot also make order ${again.orderId}`]],
      );
    });

    it("rejects a malformed checkout: no order, and CheckoutRejected names the field", async () => {
      const checkout = testCheckout({ lines: [] });
      await startOrder(deps)(checkout, testMeta("UserCheckoutAccepted", "evt-bad"));
      assert.equal(await findOrder(store.db, checkout.orderId), undefined);
      assert.deepEqual(
        (await rejections(store.db, checkout.requestId)).map((rejection) => [rejection.orderId, rejection.buyerId, rejection.reason]),
        [[checkout.orderId, checkout.buyerId, "the checkout is invalid: lines: must hold at least one line"]],
      );
    });

    it("runs a checkout to PAID: grace period, stock confirmed, payment approved", async () => {
      const checkout = testCheckout({ buyerId: "buyer-paid" });
      await startOrder(deps)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`, "corr-paid"));
      await runner.runDueSteps();
      assert.equal((await findOrder(store.db, checkout.orderId))?.status, "AWAITING_VALIDATION");

      const confirm = createOrderStockConfirmedHandler(deps);
      await confirm({ orderId: checkout.orderId }, testMeta("OrderStockConfirmed", `ok-${checkout.orderId}`, "corr-paid"));
      await confirm({ orderId: checkout.orderId }, testMeta("OrderStockConfirmed", `ok-${checkout.orderId}`, "corr-paid"));
      assert.equal((await findOrder(store.db, checkout.orderId))?.status, "STOCK_CONFIRMED");
      await runner.runDueSteps();

      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "PAID");
      assert.match(order?.authorizationId ?? "", /^sim_/);
      assert.deepEqual(
        order?.history.map((change) => change.status),
        ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID"],
      );
      const events = await outbox(store.db, checkout.orderId);
      assert.deepEqual(
        events.map((row) => row.event_type),
        ["OrderStarted", "OrderStatusChangedToAwaitingValidation", "OrderStatusChangedToStockConfirmed", "OrderPaymentSucceeded", "OrderStatusChangedToPaid"],
      );
      assert.ok(
        events.every((row) => row.correlation_id === "corr-paid"),
        "every event of the order carries the checkout's correlation id",
      );
      const awaiting = OrderStatusChangedToAwaitingValidation.decode(events[1]!.payload);
      assert.deepEqual(awaiting.items, [
        { productId: "product-a", units: 2 },
        { productId: "product-b", units: 1 },
      ]);
      assert.deepEqual(OrderStatusChangedToPaid.decode(events[4]!.payload).items, awaiting.items);
      const views = await orderViews(store.db, checkout.orderId);
      assert.deepEqual(
        views.map((view) => [view.version, view.order?.status]),
        [
          [1, OrderStatus.ORDER_STATUS_SUBMITTED],
          [2, OrderStatus.ORDER_STATUS_AWAITING_VALIDATION],
          [3, OrderStatus.ORDER_STATUS_STOCK_CONFIRMED],
          [4, OrderStatus.ORDER_STATUS_PAID],
        ],
        "every version of the order is announced whole for the read model",
      );
      assert.deepEqual(views.at(-1)?.order, orderToProto(order!), "the last view is the order as stored");
      assert.equal((await findOrderRecord(store.db, checkout.orderId))?.step, undefined, "nothing left scheduled");
    });

    it("cancels the order when the documented test card is declined", async () => {
      const checkout = testCheckout({
        paymentMethod: {
          cardBrand: "visa",
          last4: declinedTestCard.last4,
          expiryMonth: 1,
          expiryYear: 2030,
          holderName: "Recusado",
          paymentToken: "tok-declined",
        },
      });
      await startOrder(deps)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await runner.runDueSteps();
      await createOrderStockConfirmedHandler(deps)({ orderId: checkout.orderId }, testMeta("OrderStockConfirmed", `ok-${checkout.orderId}`));
      await runner.runDueSteps();
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "CANCELLED");
      assert.match(order?.history.at(-1)?.reason ?? "", /declined/);
      const events = await outbox(store.db, checkout.orderId);
      assert.deepEqual(
        events.slice(-2).map((row) => row.event_type),
        ["OrderPaymentFailed", "OrderStatusChangedToCancelled"],
      );
      const cancelled = OrderStatusChangedToCancelled.decode(events.at(-1)!.payload);
      assert.equal(cancelled.items.length, 2, "catalog is told what to release");
      assert.equal(cancelled.cause, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED);
    });

    it("cancels on stock rejection naming the short items, once", async () => {
      const checkout = testCheckout();
      await startOrder(deps)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await runner.runDueSteps();
      const reject = createOrderStockRejectedHandler(deps);
      const event = { orderId: checkout.orderId, shortages: [{ productId: "product-b", requestedUnits: 1, availableUnits: 0 }] };
      await reject(event, testMeta("OrderStockRejected", `no-${checkout.orderId}`));
      await reject(event, testMeta("OrderStockRejected", `no-${checkout.orderId}`));
      await reject(event, testMeta("OrderStockRejected", `no-again-${checkout.orderId}`));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "CANCELLED");
      assert.match(order?.history.at(-1)?.reason ?? "", /product-b \(wanted 1, available 0\)/);
      assert.equal(order?.history.length, 3);
      const events = await outbox(store.db, checkout.orderId);
      const cancellations = events.filter((row) => row.event_type === "OrderStatusChangedToCancelled");
      assert.equal(cancellations.length, 1);
      assert.equal(OrderStatusChangedToCancelled.decode(cancellations[0]!.payload).cause, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT);
    });

    it("gives back stock reserved for an order cancelled meanwhile", async () => {
      const checkout = testCheckout();
      await startOrder(deps)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await runner.runDueSteps();
      await store.db.transaction().execute((trx) =>
        changeOrderStatus(trx, checkout.orderId, "CANCELLED", {
          now: new Date(),
          timings: deps.timings,
          reason: "buyer",
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
        }),
      );
      await createOrderStockConfirmedHandler(deps)({ orderId: checkout.orderId }, testMeta("OrderStockConfirmed", `late-${checkout.orderId}`));
      const order = await findOrder(store.db, checkout.orderId);
      assert.equal(order?.status, "CANCELLED");
      const events = await outbox(store.db, checkout.orderId);
      assert.equal(
        events.filter((row) => row.event_type === "OrderStatusChangedToCancelled").length,
        2,
        "the cancellation is announced again so catalog releases the late reservation",
      );
    });

    it("drops the grace-period step of an order the buyer cancelled", async () => {
      const slow = { ...deps, timings: { gracePeriodMs: 0 } };
      const checkout = testCheckout();
      await startOrder(slow)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
      await store.db.transaction().execute((trx) =>
        changeOrderStatus(trx, checkout.orderId, "CANCELLED", {
          now: new Date(),
          timings: slow.timings,
          reason: "buyer",
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
        }),
      );
      await runner.runDueSteps();
      const record = await findOrderRecord(store.db, checkout.orderId);
      assert.equal(record?.order.status, "CANCELLED");
      assert.equal(record?.step, undefined);
    });

    it("leaves no order outside a final status when every step has run", async () => {
      // Everything above is either final or waiting for catalog's answer.
      await runner.runDueSteps();
      const counts = await countOrdersByStatus(store.db);
      assert.equal(counts.SUBMITTED ?? 0, 0);
      assert.equal(counts.STOCK_CONFIRMED ?? 0, 0);
    });
  });
}
