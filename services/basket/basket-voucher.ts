// The voucher on a basket: what ordering said it takes off when it was last
// checked, and the totals it makes (subtotal, discount, total). No I/O:
// voucher-check.ts asks ordering, basket.grpc.ts writes what it learnt.
// Ordering decides what an order really gets when it redeems the voucher;
// this is what the buyer is shown until then, by the same rule.
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { type AppliedVoucher, type BasketLine, basketTotal, type Money } from "./basket.js";

/** The code as ordering has it, and a percentage (1 to 100) or a fixed amount off. */
export type BasketVoucher = AppliedVoucher;

export interface BasketTotals {
  subtotal: Money;
  discount: Money;
  total: Money;
}

const codePattern = /^[A-Za-z0-9_-]{1,40}$/;

/** The code trimmed; INVALID_ARGUMENT naming `code` for one no voucher can have. */
export function validateVoucherCodeInput(code: string): string {
  const trimmed = code.trim();
  if (trimmed === "") throw new InvalidArgumentError("code", "is required: the voucher's code");
  if (!codePattern.test(trimmed)) throw new InvalidArgumentError("code", `must be 1 to 40 letters, digits, "-" or "_" (got "${trimmed.slice(0, 60)}")`);
  return trimmed;
}

/** `percent` % of `amountMinor`, rounded half-even to a whole minor unit (ordering rounds the same way). */
export function percentOfMinor(amountMinor: number, percent: number): number {
  const scaled = BigInt(amountMinor) * BigInt(percent);
  const quotient = scaled / 100n;
  const remainder = scaled % 100n;
  const roundUp = remainder > 50n || (remainder === 50n && quotient % 2n === 1n);
  return Number(roundUp ? quotient + 1n : quotient);
}

/** What `voucher` takes off `subtotal`: never more than it, nothing for an amount in another currency. */
export function voucherDiscount(voucher: BasketVoucher | undefined, subtotal: Money): Money {
  let amountMinor = 0;
  if (voucher?.percentOff !== undefined) amountMinor = percentOfMinor(subtotal.amountMinor, voucher.percentOff);
  else if (voucher?.amountOff !== undefined && voucher.amountOff.currencyCode === subtotal.currencyCode) amountMinor = voucher.amountOff.amountMinor;
  return { currencyCode: subtotal.currencyCode, amountMinor: Math.min(amountMinor, subtotal.amountMinor) };
}

/** The basket's totals, or undefined for an empty basket (there is no currency to state). */
export function basketTotals(lines: readonly BasketLine[], voucher: BasketVoucher | undefined): BasketTotals | undefined {
  const subtotal = basketTotal(lines);
  if (subtotal === undefined) return undefined;
  const discount = voucherDiscount(voucher, subtotal);
  return { subtotal, discount, total: { currencyCode: subtotal.currencyCode, amountMinor: subtotal.amountMinor - discount.amountMinor } };
}
