// The basket's rules without I/O: edits, limits, pricing, price changes and
// what a started order removes and a cancelled one gives back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../platform/errors/index.js";
import {
  addUnits,
  applyPriceChange,
  type BasketLine,
  basketTotal,
  type CatalogPrice,
  giveBackUnits,
  type Money,
  priceLines,
  removeCheckedOutUnits,
  removeLine,
  replaceLines,
  setLineQuantity,
  validateProductId,
  validateQuantity,
} from "./basket.js";

const limits = { maxLineQuantity: 10, maxLines: 3 };
const brl = (amountMinor: number): Money => ({ currencyCode: "BRL", amountMinor });

function line(productId: string, quantity: number, price = 1000, oldPrice?: number, priceVersion = 0): BasketLine {
  return {
    productId,
    productName: `Item ${productId}`,
    pictureUrl: "",
    unitPrice: brl(price),
    oldUnitPrice: oldPrice === undefined ? undefined : brl(oldPrice),
    priceVersion,
    quantity,
  };
}

/** Catalog prices: [product id, price] or [product id, price, price version]. */
function catalog(...items: Array<[string, number] | [string, number, number]>): Map<string, CatalogPrice> {
  return new Map(
    items.map(([productId, price, priceVersion = 0]) => [
      productId,
      { productId, name: `Catalog ${productId}`, pictureUrl: `/p/${productId}.png`, price: brl(price), priceVersion },
    ]),
  );
}

describe("quantities and product ids", () => {
  test("a quantity of zero, a negative one or one above the limit is INVALID_ARGUMENT naming the field", () => {
    for (const quantity of [0, -1, 11]) {
      assert.throws(
        () => validateQuantity(quantity, "quantity", limits),
        (error: unknown) => error instanceof InvalidArgumentError && error.field === "quantity",
      );
    }
    validateQuantity(10, "quantity", limits);
  });

  test("a blank product id is INVALID_ARGUMENT; surrounding blanks are dropped", () => {
    assert.throws(() => validateProductId("  ", "product_id"), /product_id: is required/);
    assert.equal(validateProductId(" p1 ", "product_id"), "p1");
  });
});

describe("edits", () => {
  test("adding a product creates its line; adding it again adds units", () => {
    const once = addUnits([], "p1", 2, limits);
    const twice = addUnits(once, "p1", 3, limits);
    assert.deepEqual(
      twice.map((l) => [l.productId, l.quantity]),
      [["p1", 5]],
    );
  });

  test("adding beyond the per-line limit is refused with the current and the resulting units", () => {
    assert.throws(() => addUnits([line("p1", 8)], "p1", 3, limits), /would make 11 units of p1; at most 10 per product \(the basket has 8\)/);
  });

  test("the refusal tells a program the limit and what the basket holds, so a merge can add what still fits", () => {
    assert.throws(
      () => addUnits([line("p1", 8)], "p1", 3, limits),
      (error: unknown) =>
        error instanceof InvalidArgumentError && error.field === "quantity" && error.metadata.limit === "10" && error.metadata.in_basket === "8",
    );
  });

  test("a new product beyond the line limit is FAILED_PRECONDITION", () => {
    const full = [line("a", 1), line("b", 1), line("c", 1)];
    assert.throws(() => addUnits(full, "d", 1, limits), FailedPreconditionError);
    assert.equal(addUnits(full, "a", 1, limits)[0]?.quantity, 2);
  });

  test("changing the quantity or removing a product not in the basket is NOT_FOUND naming it", () => {
    assert.throws(
      () => setLineQuantity([line("p1", 1)], "p2", 3),
      (error: unknown) => error instanceof NotFoundError && /p2/.test(error.message),
    );
    assert.throws(() => removeLine([line("p1", 1)], "p2"), NotFoundError);
    assert.deepEqual(
      removeLine([line("p1", 1), line("p2", 1)], "p1").map((l) => l.productId),
      ["p2"],
    );
  });

  test("SetItems refuses duplicates, bad quantities and too many products, naming the entry", () => {
    assert.throws(
      () =>
        replaceLines(
          [],
          [
            { productId: "p1", quantity: 1 },
            { productId: "p1", quantity: 2 },
          ],
          limits,
        ),
      /items\[1\]\.product_id: p1 is already in items\[0\]/,
    );
    assert.throws(() => replaceLines([], [{ productId: "p1", quantity: 0 }], limits), /items\[0\]\.quantity/);
    assert.throws(
      () =>
        replaceLines(
          [],
          ["a", "b", "c", "d"].map((productId) => ({ productId, quantity: 1 })),
          limits,
        ),
      /items: at most 3 products/,
    );
  });

  test("SetItems keeps what the basket knew of products it already held", () => {
    const lines = replaceLines(
      [line("p1", 1, 900, 1000)],
      [
        { productId: "p1", quantity: 4 },
        { productId: "p2", quantity: 1 },
      ],
      limits,
    );
    assert.deepEqual(lines[0], { ...line("p1", 4, 900, 1000) });
    assert.equal(lines[1]?.unitPrice.currencyCode, "");
  });
});

describe("pricing", () => {
  test("a new line takes the catalog's name, picture and price with no old price", () => {
    const [priced] = priceLines(addUnits([], "p1", 1, limits), catalog(["p1", 1500, 3]), new Set(["p1"]));
    assert.deepEqual(priced, { productId: "p1", productName: "Catalog p1", pictureUrl: "/p/p1.png", unitPrice: brl(1500), priceVersion: 3, quantity: 1 });
  });

  test("a catalog price older than the line's (read before a price change the line took) leaves the line's price", () => {
    const [kept] = priceLines([line("p1", 1, 1300, 1000, 5)], catalog(["p1", 1200, 4]), new Set(["p1"]));
    assert.deepEqual(kept, { ...line("p1", 1, 1300, 1000, 5), productName: "Catalog p1", pictureUrl: "/p/p1.png" });
    const [newer] = priceLines([line("p1", 1, 1300, 1000, 5)], catalog(["p1", 1400, 6]), new Set(["p1"]));
    assert.deepEqual([newer?.unitPrice, newer?.oldUnitPrice, newer?.priceVersion], [brl(1400), brl(1000), 6]);
  });

  test("a price that changed keeps the price the buyer saw as the old one, until it comes back", () => {
    const [raised] = priceLines([line("p1", 1, 1000)], catalog(["p1", 1200]), new Set());
    assert.deepEqual([raised?.unitPrice, raised?.oldUnitPrice], [brl(1200), brl(1000)]);
    const [raisedAgain] = priceLines([raised!], catalog(["p1", 1300]), new Set());
    assert.deepEqual([raisedAgain?.unitPrice, raisedAgain?.oldUnitPrice], [brl(1300), brl(1000)]);
    const [back] = priceLines([raisedAgain!], catalog(["p1", 1000]), new Set());
    assert.deepEqual([back?.unitPrice, back?.oldUnitPrice], [brl(1000), undefined]);
  });

  test("a required product missing from the catalog is NOT_FOUND naming every missing one", () => {
    assert.throws(() => priceLines([line("p1", 1), line("p2", 1)], catalog(), new Set(["p1", "p2"])), /products p1, p2 not found in the catalog/);
  });

  test("a line whose product left the catalog keeps its last price when it is not required", () => {
    const lines = priceLines([line("gone", 1, 700), line("p1", 1)], catalog(["p1", 1000]), new Set(["p1"]));
    assert.deepEqual(lines[0], line("gone", 1, 700));
  });

  test("the total sums unit price × quantity; an empty basket has none; mixed currencies cannot be totalled", () => {
    assert.deepEqual(basketTotal([line("a", 2, 150), line("b", 1, 1000)]), brl(1300));
    assert.equal(basketTotal([]), undefined);
    assert.throws(() => basketTotal([line("a", 1), { ...line("b", 1), unitPrice: { currencyCode: "USD", amountMinor: 1 } }]), FailedPreconditionError);
  });
});

describe("events", () => {
  test("a price change updates the product's line and keeps the old price; a repeat changes nothing", () => {
    const changed = applyPriceChange([line("p1", 2, 1000), line("p2", 1, 500)], "p1", brl(800), 0);
    assert.deepEqual(changed?.[0], line("p1", 2, 800, 1000));
    assert.deepEqual(changed?.[1], line("p2", 1, 500));
    assert.equal(applyPriceChange(changed!, "p1", brl(800), 0), undefined);
    assert.equal(applyPriceChange(changed!, "p3", brl(800), 0), undefined);
  });

  test("a price change applies only over an older price version: a late or repeated one changes nothing", () => {
    const lines = [line("p1", 2, 1000, undefined, 3)];
    assert.equal(applyPriceChange(lines, "p1", brl(900), 2), undefined, "older than the line's price");
    assert.equal(applyPriceChange(lines, "p1", brl(900), 3), undefined, "the line's own version");
    assert.deepEqual(applyPriceChange(lines, "p1", brl(1100), 4), [line("p1", 2, 1100, 1000, 4)]);
    assert.deepEqual(applyPriceChange([line("p1", 1, 1000)], "p1", brl(1100), 2), [line("p1", 1, 1100, 1000, 2)], "a line of unknown version");
  });

  test("a started order removes the units it took and leaves what was added after checkout", () => {
    const now = [line("p1", 5), line("p2", 1), line("p3", 2)];
    const left = removeCheckedOutUnits(now, [
      { productId: "p1", quantity: 3 },
      { productId: "p2", quantity: 1 },
      { productId: "gone", quantity: 1 },
    ]);
    assert.deepEqual(
      left.map((l) => [l.productId, l.quantity]),
      [
        ["p1", 2],
        ["p3", 2],
      ],
    );
  });

  test("a cancelled order's units merge into the product's line and add lines for the others", () => {
    const { lines, leftOut } = giveBackUnits(
      [line("p1", 2)],
      [
        { productId: "p1", quantity: 3 },
        { productId: "p2", quantity: 1 },
      ],
      limits,
    );
    assert.deepEqual(
      lines.map((l) => [l.productId, l.quantity]),
      [
        ["p1", 5],
        ["p2", 1],
      ],
    );
    assert.equal(lines[1]?.unitPrice.currencyCode, "", "a new line waits for its catalog price");
    assert.deepEqual(leftOut, []);
  });

  test("giving back caps each line at the most units per product and names what is left out", () => {
    const { lines, leftOut } = giveBackUnits(
      [line("p1", 8)],
      [
        { productId: "p1", quantity: 5 },
        { productId: "p2", quantity: 12 },
      ],
      limits,
    );
    assert.deepEqual(
      lines.map((l) => [l.productId, l.quantity]),
      [
        ["p1", 10],
        ["p2", 10],
      ],
    );
    assert.deepEqual(leftOut, [
      { productId: "p1", quantity: 3 },
      { productId: "p2", quantity: 2 },
    ]);
  });

  test("giving back adds no line past the most lines a basket holds", () => {
    const { lines, leftOut } = giveBackUnits(
      [line("p1", 1), line("p2", 1)],
      [
        { productId: "p3", quantity: 1 },
        { productId: "p4", quantity: 2 },
        { productId: "p1", quantity: 1 },
      ],
      limits,
    );
    assert.deepEqual(
      lines.map((l) => [l.productId, l.quantity]),
      [
        ["p1", 2],
        ["p2", 1],
        ["p3", 1],
      ],
    );
    assert.deepEqual(leftOut, [{ productId: "p4", quantity: 2 }]);
  });
});
