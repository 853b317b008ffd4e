// Checkout's request checks and the retention of checkout records.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import {
  type Address,
  type CheckoutRecord,
  findCheckout,
  newestAwaitingOrder,
  pruneCheckouts,
  unitsAwaitingOrder,
  validateAddress,
  validateRequestId,
} from "./checkout.js";

const address: Address = { street: "Rua das Flores, 10", city: "Recife", state: "PE", country: "BR", zipCode: "50000-000" };

function record(requestId: string, acceptedAt: string): CheckoutRecord {
  return { requestId, orderId: `order-${requestId}`, total: { currencyCode: "BRL", amountMinor: 100 }, acceptedAt: new Date(acceptedAt), lines: [] };
}

describe("checkout request", () => {
  test("the request id must be a UUID; case does not make another checkout", () => {
    assert.throws(() => validateRequestId(""), /request_id: is required/);
    assert.throws(() => validateRequestId("order-1"), /request_id: must be a UUID/);
    assert.equal(validateRequestId("3F2B8C1E-9D4A-4F7B-8A6E-2C1D0E9F8A7B"), "3f2b8c1e-9d4a-4f7b-8a6e-2c1d0e9f8a7b");
  });

  test("each missing address field is named; state may be blank", () => {
    assert.throws(
      () => validateAddress(undefined),
      (error: unknown) => error instanceof InvalidArgumentError && error.field === "address",
    );
    for (const [key, field] of [
      ["street", "address.street"],
      ["city", "address.city"],
      ["country", "address.country"],
      ["zipCode", "address.zip_code"],
    ] as const) {
      assert.throws(
        () => validateAddress({ ...address, [key]: " " }),
        (error: unknown) => error instanceof InvalidArgumentError && error.field === field,
      );
    }
    assert.equal(validateAddress({ ...address, state: "" }).state, "");
    assert.throws(() => validateAddress({ ...address, city: "x".repeat(201) }), /address.city: must be at most 200/);
  });
});

describe("checkout records", () => {
  test("records are found by request id", () => {
    const records = [record("a", "2030-01-01T00:00:00Z"), record("b", "2030-01-02T00:00:00Z")];
    assert.equal(findCheckout(records, "b")?.orderId, "order-b");
    assert.equal(findCheckout(records, "c"), undefined);
  });

  test("pruning drops records past their age and keeps the newest within the count", () => {
    const now = new Date("2030-02-01T00:00:00Z");
    const started = (requestId: string, acceptedAt: string): CheckoutRecord => ({ ...record(requestId, acceptedAt), orderStartedAt: new Date(acceptedAt) });
    const records = [
      record("old", "2029-12-01T00:00:00Z"),
      started("b", "2030-01-30T00:00:00Z"),
      started("a", "2030-01-20T00:00:00Z"),
      started("c", "2030-01-31T00:00:00Z"),
    ];
    const kept = pruneCheckouts(records, now, { maxAgeMs: 30 * 24 * 3600_000, maxRecords: 2 });
    assert.deepEqual(
      kept.map((r) => r.requestId),
      ["b", "c"],
    );
  });
});

describe("checkouts awaiting their order", () => {
  const started = (requestId: string, acceptedAt: string): CheckoutRecord => ({ ...record(requestId, acceptedAt), orderStartedAt: new Date(acceptedAt) });

  test("the units they hold are summed per product; started checkouts hold none", () => {
    const records = [
      { ...record("a", "2030-01-01T00:00:00Z"), lines: [{ productId: "mel", quantity: 2 }] },
      { ...started("b", "2030-01-02T00:00:00Z"), lines: [{ productId: "mel", quantity: 5 }] },
      {
        ...record("c", "2030-01-03T00:00:00Z"),
        lines: [
          { productId: "mel", quantity: 1 },
          { productId: "favo", quantity: 1 },
        ],
      },
    ];
    assert.deepEqual(unitsAwaitingOrder(records), [
      { productId: "mel", quantity: 3 },
      { productId: "favo", quantity: 1 },
    ]);
    assert.equal(newestAwaitingOrder(records)?.requestId, "c");
    assert.equal(newestAwaitingOrder([started("d", "2030-01-04T00:00:00Z")]), undefined);
  });

  test("pruning by count keeps every checkout awaiting its order", () => {
    const now = new Date("2030-02-01T00:00:00Z");
    const records = [record("waiting", "2030-01-01T00:00:00Z"), started("b", "2030-01-30T00:00:00Z"), started("c", "2030-01-31T00:00:00Z")];
    const kept = pruneCheckouts(records, now, { maxAgeMs: 60 * 24 * 3600_000, maxRecords: 1 });
    assert.deepEqual(
      kept.map((r) => r.requestId),
      ["waiting", "c"],
    );
  });
});
