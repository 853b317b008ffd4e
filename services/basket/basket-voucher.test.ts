// The basket's voucher rules without I/O: the totals a voucher makes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BasketLine } from "./basket.js";
import { basketTotals, percentOfMinor } from "./basket-voucher.js";

const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });
const line = (productId: string, amountMinor: number, quantity: number): BasketLine => ({
  productId,
  productName: productId,
  pictureUrl: "",
  unitPrice: brl(amountMinor),
  priceVersion: 1,
  quantity,
});

describe("basket totals with a voucher", () => {
  it("rounds a percentage half-even on minor units, as ordering does", () => {
    // 10 % of 10.05 is 1.005 → 1.00; of 10.15 is 1.015 → 1.02.
    assert.equal(percentOfMinor(1005, 10), 100);
    assert.equal(percentOfMinor(1015, 10), 102);
    assert.deepEqual(basketTotals([line("a", 1015, 1)], { code: "V", percentOff: 10, amountOff: undefined }), {
      subtotal: brl(1015),
      discount: brl(102),
      total: brl(913),
    });
  });

  it("never takes off more than the subtotal", () => {
    assert.deepEqual(basketTotals([line("a", 300, 2)], { code: "V", percentOff: undefined, amountOff: brl(5000) }), {
      subtotal: brl(600),
      discount: brl(600),
      total: brl(0),
    });
  });

  it("takes nothing off for an amount in another currency, and has no totals for an empty basket", () => {
    assert.deepEqual(
      basketTotals([line("a", 300, 1)], { code: "V", percentOff: undefined, amountOff: { currencyCode: "USD", amountMinor: 100 } })?.discount,
      brl(0),
    );
    assert.equal(basketTotals([], { code: "V", percentOff: 10, amountOff: undefined }), undefined);
  });
});
