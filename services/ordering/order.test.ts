import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FailedPreconditionError, InvalidArgumentError } from "../../platform/errors/index.js";
import {
  canTransition,
  IllegalTransitionError,
  isFinalStatus,
  type Order,
  type OrderStatus,
  orderFromCheckout,
  orderStatuses,
  stockItemsOf,
  stockRejectedReason,
  transition,
} from "./order.js";
import { checkoutToDraft } from "./order.mapper.js";
import { testCheckout } from "./ordering.test-support.js";

const now = new Date("2025-01-02T03:04:05.000Z");
const later = new Date("2025-01-02T03:05:00.000Z");

const legal: ReadonlyArray<[OrderStatus, OrderStatus]> = [
  ["SUBMITTED", "AWAITING_VALIDATION"],
  ["AWAITING_VALIDATION", "STOCK_CONFIRMED"],
  ["STOCK_CONFIRMED", "PAID"],
  ["PAID", "SHIPPED"],
  ["SUBMITTED", "CANCELLED"],
  ["AWAITING_VALIDATION", "CANCELLED"],
  ["STOCK_CONFIRMED", "CANCELLED"],
];

function orderIn(status: OrderStatus): Order {
  return { ...orderFromCheckout(checkoutToDraft(testCheckout()), now), status };
}

describe("order status transitions", () => {
  for (const [from, to] of legal) {
    it(`moves ${from} → ${to}, bumping the version and recording the change`, () => {
      const order = orderIn(from);
      const result = transition(order, to, later, { reason: to === "CANCELLED" ? "because" : "" });
      assert.equal(result.from, from);
      assert.equal(result.order.status, to);
      assert.equal(result.order.version, order.version + 1);
      assert.deepEqual(result.order.history.at(-1), { status: to, changeTime: later, reason: to === "CANCELLED" ? "because" : "" });
      assert.equal(result.order.updateTime, later);
      assert.equal(order.status, from, "the original order is left untouched");
    });
  }

  for (const from of orderStatuses) {
    for (const to of orderStatuses) {
      if (legal.some(([a, b]) => a === from && b === to)) continue;
      it(`refuses ${from} → ${to} with FAILED_PRECONDITION naming both statuses`, () => {
        const order = orderIn(from);
        const before = structuredClone(order);
        assert.equal(canTransition(from, to), false);
        assert.throws(
          () => transition(order, to, later),
          (error: unknown) => {
            assert.ok(error instanceof IllegalTransitionError);
            assert.ok(error instanceof FailedPreconditionError);
            assert.equal(error.current, from);
            assert.equal(error.wanted, to);
            assert.match(error.message, new RegExp(`is ${from} and cannot become ${to}`));
            return true;
          },
        );
        assert.deepEqual(order, before, "nothing applied");
      });
    }
  }

  it("treats SHIPPED and CANCELLED as final, every other status as open", () => {
    assert.deepEqual(
      orderStatuses.filter((status) => isFinalStatus(status)),
      ["SHIPPED", "CANCELLED"],
    );
  });

  it("keeps the authorisation reference once set", () => {
    const paid = transition(orderIn("STOCK_CONFIRMED"), "PAID", later, { authorizationId: "auth-1" }).order;
    assert.equal(paid.authorizationId, "auth-1");
    assert.equal(transition(paid, "SHIPPED", later).order.authorizationId, "auth-1");
  });
});

describe("an order from a checkout", () => {
  it("is SUBMITTED with its lines, masked card and the total of its lines", () => {
    const checkout = testCheckout({ buyerId: "buyer-9" });
    const order = orderFromCheckout(checkoutToDraft(checkout), now);
    assert.equal(order.id, checkout.orderId);
    assert.equal(order.checkoutRequestId, checkout.requestId);
    assert.equal(order.buyerId, "buyer-9");
    assert.equal(order.status, "SUBMITTED");
    assert.equal(order.version, 1);
    assert.deepEqual(order.history, [{ status: "SUBMITTED", changeTime: now, reason: "" }]);
    assert.deepEqual(order.total, { currencyCode: "BRL", amountMinor: 4550 });
    assert.equal(order.lines.length, 2);
    assert.equal(order.paymentMethod.last4, "4242");
  });

  it("computes the total when the checkout leaves it out", () => {
    const order = orderFromCheckout(checkoutToDraft(testCheckout({ total: undefined })), now);
    assert.deepEqual(order.total, { currencyCode: "BRL", amountMinor: 4550 });
  });

  const invalid: Array<[string, Parameters<typeof testCheckout>[0], RegExp]> = [
    ["no lines", { lines: [] }, /lines/],
    [
      "a line with no units",
      { lines: [{ productId: "p", productName: "", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1 }, units: 0 }], total: undefined },
      /units/,
    ],
    ["a line with no price", { lines: [{ productId: "p", productName: "", pictureUrl: "", unitPrice: undefined, units: 1 }], total: undefined }, /unit_price/],
    [
      "mixed currencies",
      {
        lines: [
          { productId: "p", productName: "", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1 }, units: 1 },
          { productId: "q", productName: "", pictureUrl: "", unitPrice: { currencyCode: "USD", amountMinor: 1 }, units: 1 },
        ],
        total: undefined,
      },
      /currency/,
    ],
    ["a total that is not the sum", { total: { currencyCode: "BRL", amountMinor: 1 } }, /total/],
    [
      "a full card number",
      { paymentMethod: { cardBrand: "visa", last4: "4111111111111111", expiryMonth: 1, expiryYear: 2030, holderName: "x", paymentToken: "t" } },
      /last4/,
    ],
    [
      "no payment token",
      { paymentMethod: { cardBrand: "visa", last4: "1111", expiryMonth: 1, expiryYear: 2030, holderName: "x", paymentToken: "" } },
      /payment_token/,
    ],
    ["no address", { address: undefined }, /address/],
    ["no order id", { orderId: "" }, /order_id/],
    ["no request id", { requestId: "" }, /request_id/],
  ];
  for (const [what, overrides, field] of invalid) {
    it(`is refused for ${what}, naming the field`, () => {
      assert.throws(
        () => orderFromCheckout(checkoutToDraft(testCheckout(overrides)), now),
        (error: unknown) => error instanceof InvalidArgumentError && field.test(error.message),
      );
    });
  }

  it("asks catalog for one stock item per product", () => {
    const order = orderFromCheckout(
      checkoutToDraft(
        testCheckout({
          lines: [
            { productId: "b", productName: "", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1 }, units: 1 },
            { productId: "a", productName: "", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1 }, units: 2 },
            { productId: "b", productName: "", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1 }, units: 3 },
          ],
          total: undefined,
        }),
      ),
      now,
    );
    assert.deepEqual(stockItemsOf(order), [
      { productId: "a", units: 2 },
      { productId: "b", units: 4 },
    ]);
  });

  it("names every short product when stock is rejected", () => {
    const reason = stockRejectedReason([
      { productId: "p1", requestedUnits: 3, availableUnits: 1 },
      { productId: "p2", requestedUnits: 1, availableUnits: 0 },
    ]);
    assert.match(reason, /p1 \(wanted 3, available 1\)/);
    assert.match(reason, /p2 \(wanted 1, available 0\)/);
  });
});
