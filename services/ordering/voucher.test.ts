// Voucher rules without I/O: validation, usability, and the discount's rounding.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import {
  applyVoucherUpdate,
  percentOfMinor,
  resolveVoucherUpdateMask,
  type Voucher,
  type VoucherTerms,
  validateVoucherTerms,
  voucherDiscount,
  voucherUsability,
} from "./voucher.js";

const terms: VoucherTerms = {
  code: "Mel10",
  percentOff: 10,
  amountOff: undefined,
  remainingRedemptions: 5,
  validFrom: new Date("2026-01-01T00:00:00Z"),
  validUntil: new Date("2026-02-01T00:00:00Z"),
  active: true,
};
const voucher: Voucher = { ...terms, createTime: new Date(0), updateTime: new Date(0) };
const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });

function rejectsField(fn: () => unknown, field: string): void {
  assert.throws(fn, (error: unknown) => error instanceof InvalidArgumentError && error.field === field);
}

describe("percentOfMinor", () => {
  it("rounds a half minor unit to the even neighbour", () => {
    // 10 % of 1005 is 100.5 → 100; of 1015 is 101.5 → 102.
    assert.equal(percentOfMinor(1005, 10), 100);
    assert.equal(percentOfMinor(1015, 10), 102);
  });

  it("rounds other fractions to the nearest minor unit", () => {
    assert.equal(percentOfMinor(1006, 10), 101);
    assert.equal(percentOfMinor(1004, 10), 100);
    assert.equal(percentOfMinor(333, 15), 50);
  });
});

describe("voucherDiscount", () => {
  it("never takes off more than the subtotal", () => {
    assert.deepEqual(voucherDiscount({ percentOff: undefined, amountOff: brl(5000) }, brl(1200)), brl(1200));
    assert.deepEqual(voucherDiscount({ percentOff: 100, amountOff: undefined }, brl(1200)), brl(1200));
  });

  it("takes nothing off for a fixed amount in another currency", () => {
    assert.deepEqual(voucherDiscount({ percentOff: undefined, amountOff: { currencyCode: "USD", amountMinor: 500 } }, brl(1200)), brl(0));
  });
});

describe("voucherUsability", () => {
  const inside = new Date("2026-01-15T00:00:00Z");

  it("allows an active voucher inside its dates with redemptions left", () => {
    assert.deepEqual(voucherUsability(voucher, "MEL10", inside), { usable: true });
  });

  it("names the voucher and the reason when it cannot be used", () => {
    assert.deepEqual(voucherUsability(undefined, "NOPE", inside), { usable: false, reason: "voucher NOPE does not exist" });
    assert.deepEqual(voucherUsability({ ...voucher, active: false }, "MEL10", inside), { usable: false, reason: "voucher Mel10 is no longer offered" });
    assert.deepEqual(voucherUsability({ ...voucher, remainingRedemptions: 0 }, "MEL10", inside), { usable: false, reason: "voucher Mel10 has been used up" });
    assert.deepEqual(voucherUsability(voucher, "MEL10", new Date("2026-02-01T00:00:00Z")), {
      usable: false,
      reason: "voucher Mel10 expired at 2026-02-01T00:00:00.000Z",
    });
    assert.deepEqual(voucherUsability(voucher, "MEL10", new Date("2025-12-31T23:59:59Z")), {
      usable: false,
      reason: "voucher Mel10 is valid only from 2026-01-01T00:00:00.000Z",
    });
  });
});

describe("validateVoucherTerms", () => {
  it("wants exactly one kind of discount", () => {
    rejectsField(() => validateVoucherTerms({ ...terms, percentOff: undefined }), "voucher.percent_off");
    rejectsField(() => validateVoucherTerms({ ...terms, amountOff: brl(100) }), "voucher.percent_off");
  });

  it("names the field that is out of range", () => {
    rejectsField(() => validateVoucherTerms({ ...terms, percentOff: 101 }), "voucher.percent_off");
    rejectsField(() => validateVoucherTerms({ ...terms, code: "no spaces" }), "voucher.code");
    rejectsField(() => validateVoucherTerms({ ...terms, remainingRedemptions: -1 }), "voucher.remaining_redemptions");
    rejectsField(() => validateVoucherTerms({ ...terms, validUntil: terms.validFrom }), "voucher.valid_until");
    rejectsField(
      () => validateVoucherTerms({ ...terms, percentOff: undefined, amountOff: { currencyCode: "brl", amountMinor: 1 } }),
      "voucher.amount_off.currency_code",
    );
  });
});

describe("voucher updates", () => {
  it("switching to a fixed amount clears the percentage", () => {
    const fields = resolveVoucherUpdateMask(["amount_off.amount_minor"]);
    assert.deepEqual(applyVoucherUpdate(voucher, { ...terms, percentOff: undefined, amountOff: brl(700) }, fields), {
      ...terms,
      percentOff: undefined,
      amountOff: brl(700),
    });
  });

  it("refuses the code and unknown paths in the mask", () => {
    rejectsField(() => resolveVoucherUpdateMask(["code"]), "update_mask");
    rejectsField(() => resolveVoucherUpdateMask(["colour"]), "update_mask");
  });
});
