// Vouchers and their rules: what a valid voucher is, when an order may use
// one, and what it takes off an order's subtotal. No I/O here:
// voucher.repository.ts stores them and redeems them in the transaction that
// creates the order.
import { InvalidArgumentError } from "../../platform/errors/index.js";
import type { Money } from "./order.js";

export interface Voucher {
  /** As the admin created it; matched whatever the case (codeKey). */
  code: string;
  /** 1 to 100, or undefined for a fixed-amount voucher. */
  percentOff: number | undefined;
  /** The fixed amount off, or undefined for a percentage voucher. */
  amountOff: Money | undefined;
  remainingRedemptions: number;
  validFrom: Date | undefined;
  validUntil: Date | undefined;
  active: boolean;
  createTime: Date;
  updateTime: Date;
}

/** What an admin writes; the times the repository keeps are added there. */
export type VoucherTerms = Omit<Voucher, "createTime" | "updateTime">;

export const voucherLimits = { codeLength: 40, maxRedemptions: 10_000_000 } as const;

const codePattern = /^[A-Za-z0-9_-]+$/;

/** The key a code is stored and looked up under: one voucher per code whatever the case. */
export function voucherCodeKey(code: string): string {
  return code.toUpperCase();
}

/** The code trimmed; throws InvalidArgumentError naming `field` for one no voucher can have. */
export function validateVoucherCode(code: string, field: string): string {
  const trimmed = code.trim();
  if (trimmed === "") throw new InvalidArgumentError(field, "is required: the voucher's code");
  if (trimmed.length > voucherLimits.codeLength) {
    throw new InvalidArgumentError(field, `must be at most ${voucherLimits.codeLength} characters (got ${trimmed.length})`);
  }
  if (!codePattern.test(trimmed)) throw new InvalidArgumentError(field, `may hold only letters, digits, "-" and "_" (got "${trimmed}")`);
  return trimmed;
}

/** Checks terms as a whole (field names are the proto's, under `prefix`); returns them as given. */
export function validateVoucherTerms(terms: VoucherTerms, prefix = "voucher"): VoucherTerms {
  validateVoucherCode(terms.code, `${prefix}.code`);
  if ((terms.percentOff === undefined) === (terms.amountOff === undefined)) {
    throw new InvalidArgumentError(`${prefix}.percent_off`, "set exactly one of percent_off (1 to 100) and amount_off");
  }
  if (terms.percentOff !== undefined && (!Number.isInteger(terms.percentOff) || terms.percentOff < 1 || terms.percentOff > 100)) {
    throw new InvalidArgumentError(`${prefix}.percent_off`, `must be a whole percentage from 1 to 100 (got ${terms.percentOff})`);
  }
  if (terms.amountOff !== undefined) {
    if (!/^[A-Z]{3}$/.test(terms.amountOff.currencyCode)) {
      throw new InvalidArgumentError(`${prefix}.amount_off.currency_code`, `must be an ISO 4217 code such as BRL (got "${terms.amountOff.currencyCode}")`);
    }
    if (!Number.isSafeInteger(terms.amountOff.amountMinor) || terms.amountOff.amountMinor < 1) {
      throw new InvalidArgumentError(
        `${prefix}.amount_off.amount_minor`,
        `must be a whole, positive number of minor units (got ${terms.amountOff.amountMinor})`,
      );
    }
  }
  if (!Number.isInteger(terms.remainingRedemptions) || terms.remainingRedemptions < 0 || terms.remainingRedemptions > voucherLimits.maxRedemptions) {
    throw new InvalidArgumentError(`${prefix}.remaining_redemptions`, `must be 0 to ${voucherLimits.maxRedemptions} (got ${terms.remainingRedemptions})`);
  }
  if (terms.validFrom !== undefined && terms.validUntil !== undefined && terms.validUntil.getTime() <= terms.validFrom.getTime()) {
    throw new InvalidArgumentError(`${prefix}.valid_until`, `must be after valid_from (${terms.validFrom.toISOString()})`);
  }
  return terms;
}

export type VoucherUsability = { usable: true } | { usable: false; reason: string };

/** Whether an order placed at `now` may redeem `voucher`, and why not, in words a buyer understands. */
export function voucherUsability(voucher: Voucher | undefined, code: string, now: Date): VoucherUsability {
  if (voucher === undefined) return { usable: false, reason: `voucher ${code} does not exist` };
  const name = `voucher ${voucher.code}`;
  if (!voucher.active) return { usable: false, reason: `${name} is no longer offered` };
  if (voucher.validFrom !== undefined && now.getTime() < voucher.validFrom.getTime()) {
    return { usable: false, reason: `${name} is valid only from ${voucher.validFrom.toISOString()}` };
  }
  if (voucher.validUntil !== undefined && now.getTime() >= voucher.validUntil.getTime()) {
    return { usable: false, reason: `${name} expired at ${voucher.validUntil.toISOString()}` };
  }
  if (voucher.remainingRedemptions <= 0) return { usable: false, reason: `${name} has been used up` };
  return { usable: true };
}

/**
 * `percent` % of `amountMinor`, rounded half-even to a whole minor unit (so
 * many small discounts do not drift one way). BigInt keeps it exact for any
 * safe amount.
 */
export function percentOfMinor(amountMinor: number, percent: number): number {
  const scaled = BigInt(amountMinor) * BigInt(percent);
  const quotient = scaled / 100n;
  const remainder = scaled % 100n;
  const roundUp = remainder > 50n || (remainder === 50n && quotient % 2n === 1n);
  return Number(roundUp ? quotient + 1n : quotient);
}

/**
 * What `voucher` takes off `subtotal`: never more than the subtotal, and
 * nothing from a fixed amount in another currency.
 */
export function voucherDiscount(voucher: Pick<Voucher, "percentOff" | "amountOff">, subtotal: Money): Money {
  let amountMinor = 0;
  if (voucher.percentOff !== undefined) amountMinor = percentOfMinor(subtotal.amountMinor, voucher.percentOff);
  else if (voucher.amountOff !== undefined && voucher.amountOff.currencyCode === subtotal.currencyCode) amountMinor = voucher.amountOff.amountMinor;
  return { currencyCode: subtotal.currencyCode, amountMinor: Math.min(amountMinor, subtotal.amountMinor) };
}

/** The paths UpdateVoucher may change; the code names the voucher and never changes. */
export const writableVoucherPaths = ["percent_off", "amount_off", "remaining_redemptions", "valid_from", "valid_until", "active"] as const;
export type WritableVoucherPath = (typeof writableVoucherPaths)[number];

const outputOnlyVoucherPaths = new Set(["code", "create_time", "update_time"]);

export function resolveVoucherUpdateMask(paths: readonly string[] | undefined): Set<WritableVoucherPath> {
  if (!paths || paths.length === 0) return new Set(writableVoucherPaths);
  const resolved = new Set<WritableVoucherPath>();
  for (const path of paths) {
    if ((writableVoucherPaths as readonly string[]).includes(path)) resolved.add(path as WritableVoucherPath);
    // Money is written whole: a currency without its amount means nothing.
    else if (path === "amount_off.amount_minor" || path === "amount_off.currency_code") resolved.add("amount_off");
    else if (outputOnlyVoucherPaths.has(path)) throw new InvalidArgumentError("update_mask", `"${path}" cannot be updated`);
    else throw new InvalidArgumentError("update_mask", `unknown path "${path}"; valid paths (snake_case) are ${writableVoucherPaths.join(", ")}`);
  }
  return resolved;
}

/**
 * The terms after an update: masked fields from the patch, the rest as they
 * were. Setting one kind of discount clears the other, so a voucher switched
 * from a percentage to an amount does not end up with both.
 */
export function applyVoucherUpdate(current: Voucher, patch: VoucherTerms, fields: ReadonlySet<WritableVoucherPath>): VoucherTerms {
  let percentOff = fields.has("percent_off") ? patch.percentOff : current.percentOff;
  let amountOff = fields.has("amount_off") ? patch.amountOff : current.amountOff;
  if (fields.has("percent_off") && !fields.has("amount_off") && percentOff !== undefined) amountOff = undefined;
  if (fields.has("amount_off") && !fields.has("percent_off") && amountOff !== undefined) percentOff = undefined;
  return {
    code: current.code,
    percentOff,
    amountOff,
    remainingRedemptions: fields.has("remaining_redemptions") ? patch.remainingRedemptions : current.remainingRedemptions,
    validFrom: fields.has("valid_from") ? patch.validFrom : current.validFrom,
    validUntil: fields.has("valid_until") ? patch.validUntil : current.validUntil,
    active: fields.has("active") ? patch.active : current.active,
  };
}
