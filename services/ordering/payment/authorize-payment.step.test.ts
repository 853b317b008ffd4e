import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OrderCancellationCause } from "../../../gen/mel/events/v1/ordering_events.js";
import { deferred } from "../../../test/support/wait.js";
import { createAwaitValidationStep } from "../await-validation.step.js";
import { createOrderStockConfirmedHandler } from "../events/order-stock-confirmed.handler.js";
import { createUserCheckoutAcceptedHandler } from "../events/user-checkout-accepted.handler.js";
import { findOrder, findOrderRecord } from "../order.repository.js";
import { changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";
import { createOrderStepRunner } from "../order-step-runner.js";
import { openTestOrderingDatabase, quietLogger, type TestOrderingDatabase, testCheckout, testMeta } from "../ordering.test-support.js";
import { createAuthorizePaymentStep } from "./authorize-payment.step.js";
import type { PaymentAuthorizationRequest, PaymentGateway } from "./payment-gateway.js";
import { createSimulatedPaymentGateway, declinedTestCard } from "./simulated-payment-gateway.js";

describe("the simulated payment gateway", () => {
  const request = (last4: string, orderId = "o-1"): PaymentAuthorizationRequest => ({
    orderId,
    amount: { currencyCode: "BRL", amountMinor: 100 },
    paymentMethod: { cardBrand: "visa", last4, expiryMonth: 1, expiryYear: 2030, holderName: "x", paymentToken: "t" },
  });

  it(`declines the documented test card ${declinedTestCard.number}`, async () => {
    const answer = await createSimulatedPaymentGateway().authorize(request("0002"));
    assert.equal(answer.outcome, "declined");
  });

  it("approves other cards, with the same authorisation for the same order", async () => {
    const gateway = createSimulatedPaymentGateway();
    const first = await gateway.authorize(request("4242", "o-7"));
    const again = await gateway.authorize(request("4242", "o-7"));
    const other = await gateway.authorize(request("4242", "o-8"));
    assert.equal(first.outcome, "approved");
    assert.deepEqual(again, first);
    assert.notDeepEqual(other, first);
  });
});

describe("the payment step", () => {
  let store: TestOrderingDatabase;
  let deps: OrderFlowDeps;

  before(async () => {
    store = await openTestOrderingDatabase("sqlite");
    deps = { db: store.db, logger: quietLogger, timings: { gracePeriodMs: 0 }, orderChanged: () => undefined };
  });

  after(async () => {
    await store?.destroy();
  });

  /** An order brought to STOCK_CONFIRMED, its payment step due. */
  async function stockConfirmedOrder(): Promise<string> {
    const checkout = testCheckout();
    await createUserCheckoutAcceptedHandler(deps)(checkout, testMeta("UserCheckoutAccepted", `evt-${checkout.orderId}`));
    await createAwaitValidationStep(deps)(checkout.orderId);
    await createOrderStockConfirmedHandler(deps)({ orderId: checkout.orderId }, testMeta("OrderStockConfirmed", `ok-${checkout.orderId}`));
    assert.equal((await findOrder(store.db, checkout.orderId))?.status, "STOCK_CONFIRMED");
    return checkout.orderId;
  }

  function failingGateway(failures: number): PaymentGateway & { calls: number } {
    const real = createSimulatedPaymentGateway();
    const gateway = {
      calls: 0,
      async authorize(request: PaymentAuthorizationRequest) {
        gateway.calls += 1;
        if (gateway.calls <= failures) throw new Error("payment gateway unreachable (connect ECONNREFUSED)");
        return real.authorize(request);
      },
      voidAuthorization: real.voidAuthorization,
    };
    return gateway;
  }

  it("retries a failing gateway with back-off and pays once it answers", async () => {
    const orderId = await stockConfirmedOrder();
    const gateway = failingGateway(2);
    let clock = Date.now();
    const runner = createOrderStepRunner({
      db: store.db,
      logger: quietLogger,
      now: () => new Date(clock),
      retryInitialDelayMs: 1000,
      handlers: { "await-validation": createAwaitValidationStep(deps), "authorize-payment": createAuthorizePaymentStep({ ...deps, gateway }) },
    });
    await runner.runDueSteps();
    const afterFirst = await findOrderRecord(store.db, orderId);
    assert.equal(afterFirst?.order.status, "STOCK_CONFIRMED");
    assert.equal(afterFirst?.step?.dueAt.getTime(), clock + 1000, "first retry after the initial delay");
    await runner.runDueSteps();
    assert.equal(gateway.calls, 1, "not due yet: nothing runs");
    clock += 1000;
    await runner.runDueSteps();
    assert.equal((await findOrderRecord(store.db, orderId))?.step?.dueAt.getTime(), clock + 2000, "the delay doubles");
    clock += 2000;
    await runner.runDueSteps();
    assert.equal(gateway.calls, 3);
    assert.equal((await findOrder(store.db, orderId))?.status, "PAID");
  });

  it("gives up after the last attempt and cancels the order", async () => {
    const orderId = await stockConfirmedOrder();
    const gateway = failingGateway(100);
    let clock = Date.now();
    const runner = createOrderStepRunner({
      db: store.db,
      logger: quietLogger,
      now: () => new Date(clock),
      handlers: { "await-validation": createAwaitValidationStep(deps), "authorize-payment": createAuthorizePaymentStep({ ...deps, gateway, maxAttempts: 3 }) },
    });
    for (let round = 0; round < 3; round++) {
      await runner.runDueSteps();
      clock += 120_000;
    }
    const order = await findOrder(store.db, orderId);
    assert.equal(gateway.calls, 3);
    assert.equal(order?.status, "CANCELLED");
    assert.match(order?.history.at(-1)?.reason ?? "", /failed 3 times/);
  });

  it("takes over a step whose runner died once its lease ends", async () => {
    const orderId = await stockConfirmedOrder();
    let clock = Date.now();
    const gateway = createSimulatedPaymentGateway();
    const called = deferred();
    const stuck: PaymentGateway = {
      authorize: () => {
        called.resolve();
        return new Promise(() => undefined);
      },
      voidAuthorization: gateway.voidAuthorization,
    };
    const dying = createOrderStepRunner({
      db: store.db,
      logger: quietLogger,
      now: () => new Date(clock),
      leaseMs: 5000,
      handlers: { "await-validation": createAwaitValidationStep(deps), "authorize-payment": createAuthorizePaymentStep({ ...deps, gateway: stuck }) },
    });
    // The first runner claims the step and never finishes (as if killed mid-call):
    // once it calls the gateway, its claim is committed. Its round never settles.
    void dying.runDueSteps().catch((error: unknown) => called.reject(error));
    await called.promise;
    const healthy = createOrderStepRunner({
      db: store.db,
      logger: quietLogger,
      now: () => new Date(clock),
      handlers: { "await-validation": createAwaitValidationStep(deps), "authorize-payment": createAuthorizePaymentStep({ ...deps, gateway }) },
    });
    assert.equal(await healthy.runDueSteps(), 0, "held by the first runner");
    clock += 5001;
    assert.equal(await healthy.runDueSteps(), 1);
    assert.equal((await findOrder(store.db, orderId))?.status, "PAID");
  });

  it("voids the authorisation when the buyer cancelled while the gateway answered", async () => {
    const orderId = await stockConfirmedOrder();
    const real = createSimulatedPaymentGateway();
    const slow: PaymentGateway = {
      async authorize(request) {
        // The buyer's cancel commits while the gateway is deciding.
        await store.db.transaction().execute((trx) =>
          changeOrderStatus(trx, orderId, "CANCELLED", {
            now: new Date(),
            timings: deps.timings,
            reason: "buyer",
            cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
          }),
        );
        return real.authorize(request);
      },
      voidAuthorization: real.voidAuthorization,
    };
    await createAuthorizePaymentStep({ ...deps, gateway: slow })(orderId);
    const record = await findOrderRecord(store.db, orderId);
    assert.equal(record?.order.status, "CANCELLED");
    assert.equal(record?.step, undefined);
    assert.equal(real.voided.size, 1);
  });
});
