import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FailedPreconditionError, InvalidArgumentError } from "../../platform/errors/index.js";
import {
  applyItemUpdate,
  checkMaxStockHoldsStock,
  checkStockAdjustment,
  type Item,
  type ItemDraft,
  nameSearchKey,
  resolveUpdateMask,
  validateItemDraft,
  validateStockDelta,
  writableItemPaths,
} from "./item.js";
import { mergeStockLines, unreservableLines } from "./stock-reservation.js";

const draft: ItemDraft = {
  name: "Mel Silvestre 500 g",
  description: "Pote de vidro.",
  price: { currencyCode: "BRL", amountMinor: 3490 },
  brandId: "b1",
  typeId: "t1",
  pictureUrl: "/pics/mel.webp",
  restockThreshold: 10,
  maxStock: 100,
};

const item: Item = {
  ...draft,
  id: "i1",
  priceVersion: 1,
  availableStock: 30,
  reservedStock: 5,
  createTime: new Date(0),
  updateTime: new Date(0),
  brandName: "Mel Original",
  typeName: "Mel",
};

function rejectsField(fn: () => void, field: string, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.field, field);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

describe("validateItemDraft", () => {
  it("accepts a complete draft", () => {
    validateItemDraft(draft);
  });

  it("names each invalid field with the request's path", () => {
    rejectsField(() => validateItemDraft({ ...draft, name: "  " }), "item.name");
    rejectsField(() => validateItemDraft({ ...draft, name: "x".repeat(201) }), "item.name", /200/);
    rejectsField(() => validateItemDraft({ ...draft, price: { currencyCode: "brl", amountMinor: 1 } }), "item.price.currency_code");
    rejectsField(() => validateItemDraft({ ...draft, price: { currencyCode: "BRL", amountMinor: -1 } }), "item.price.amount_minor");
    rejectsField(() => validateItemDraft({ ...draft, brandId: "" }), "item.brand_id", /ListBrands/);
    rejectsField(() => validateItemDraft({ ...draft, typeId: "" }), "item.type_id", /ListTypes/);
    rejectsField(() => validateItemDraft({ ...draft, pictureUrl: "ftp://x/y.png" }), "item.picture_url");
    rejectsField(() => validateItemDraft({ ...draft, pictureUrl: "not a url" }), "item.picture_url");
    rejectsField(() => validateItemDraft({ ...draft, maxStock: 0 }), "item.max_stock");
    rejectsField(() => validateItemDraft({ ...draft, restockThreshold: 101 }), "item.restock_threshold", /max_stock 100/);
  });

  it("accepts absolute https picture URLs and an empty one", () => {
    validateItemDraft({ ...draft, pictureUrl: "https://cdn.lojasmel.com.br/p/1.webp" });
    validateItemDraft({ ...draft, pictureUrl: "" });
  });
});

describe("resolveUpdateMask", () => {
  it("treats an empty mask as every writable field", () => {
    assert.deepEqual([...resolveUpdateMask([])].sort(), [...writableItemPaths].sort());
    assert.deepEqual([...resolveUpdateMask(undefined)].sort(), [...writableItemPaths].sort());
  });

  it("maps price sub-paths to the whole price", () => {
    assert.deepEqual([...resolveUpdateMask(["price.amount_minor"])], ["price"]);
  });

  it("rejects unknown, camelCase, output-only and stock paths naming update_mask", () => {
    rejectsField(() => resolveUpdateMask(["colour"]), "update_mask", /unknown path "colour".*brand_id/);
    rejectsField(() => resolveUpdateMask(["brandId"]), "update_mask", /snake_case/);
    rejectsField(() => resolveUpdateMask(["reserved_stock"]), "update_mask", /output only/);
    rejectsField(() => resolveUpdateMask(["available_stock"]), "update_mask", /AdjustStock/);
  });
});

describe("applyItemUpdate", () => {
  it("changes only the masked fields", () => {
    const patch: ItemDraft = { ...draft, name: "Outro nome", description: "nova", price: { currencyCode: "BRL", amountMinor: 1 } };
    const updated = applyItemUpdate(item, patch, new Set(["description"]));
    assert.equal(updated.description, "nova");
    assert.equal(updated.name, item.name);
    assert.deepEqual(updated.price, item.price);
  });
});

describe("stock rules", () => {
  it("refuses a removal below zero with the numbers", () => {
    assert.throws(
      () => checkStockAdjustment(item, -31),
      (error: unknown) => {
        assert.ok(error instanceof FailedPreconditionError);
        assert.match(error.message, /30 available units; removing 31 would leave -1/);
        return true;
      },
    );
  });

  it("refuses an addition above max_stock counting reserved units", () => {
    assert.throws(
      () => checkStockAdjustment(item, 66),
      (error: unknown) => {
        assert.ok(error instanceof FailedPreconditionError);
        assert.match(error.message, /holds 35 units.*would make 101, above max_stock 100/);
        return true;
      },
    );
    checkStockAdjustment(item, 65);
    checkStockAdjustment(item, -30);
  });

  it("refuses a zero or fractional delta as an argument error", () => {
    rejectsField(() => validateStockDelta(0), "delta");
    rejectsField(() => validateStockDelta(1.5), "delta");
  });

  it("refuses a max_stock below the units held", () => {
    assert.throws(() => checkMaxStockHoldsStock(item, 34), FailedPreconditionError);
    checkMaxStockHoldsStock(item, 35);
  });
});

describe("nameSearchKey", () => {
  it("folds case and accents so Portuguese names match plain queries", () => {
    assert.equal(nameSearchKey("Caneca Térmica ABELHA"), "caneca termica abelha");
    assert.equal(nameSearchKey("Boné"), nameSearchKey("bone"));
  });
});

describe("mergeStockLines", () => {
  it("sums repeated products and sorts by product id", () => {
    assert.deepEqual(
      mergeStockLines([
        { productId: "b", units: 1 },
        { productId: "a", units: 2 },
        { productId: "b", units: 3 },
      ]),
      [
        { productId: "a", units: 2 },
        { productId: "b", units: 4 },
      ],
    );
  });

  it("finds lines no stock could satisfy", () => {
    assert.deepEqual(
      unreservableLines([
        { productId: "a", units: 0 },
        { productId: "", units: 1 },
        { productId: "b", units: 2 },
      ]),
      [
        { productId: "a", requestedUnits: 0, availableUnits: 0 },
        { productId: "", requestedUnits: 1, availableUnits: 0 },
      ],
    );
  });
});
