// Conversions between vouchers and the API's proto messages.
import type { Voucher as ProtoVoucher } from "../../gen/mel/ordering/v1/ordering.js";
import type { Voucher, VoucherTerms } from "./voucher.js";

export function voucherToProto(voucher: Voucher): ProtoVoucher {
  return {
    code: voucher.code,
    percentOff: voucher.percentOff ?? 0,
    amountOff: voucher.amountOff && { ...voucher.amountOff },
    remainingRedemptions: voucher.remainingRedemptions,
    validFrom: voucher.validFrom,
    validUntil: voucher.validUntil,
    active: voucher.active,
    createTime: voucher.createTime,
    updateTime: voucher.updateTime,
  };
}

/** The terms a request gives; percent_off 0 and an unset amount_off mean "not this kind". */
export function protoToTerms(voucher: ProtoVoucher): VoucherTerms {
  return {
    code: voucher.code.trim(),
    percentOff: voucher.percentOff === 0 ? undefined : voucher.percentOff,
    amountOff: voucher.amountOff && { currencyCode: voucher.amountOff.currencyCode, amountMinor: voucher.amountOff.amountMinor },
    remainingRedemptions: voucher.remainingRedemptions,
    validFrom: voucher.validFrom,
    validUntil: voucher.validUntil,
    active: voucher.active,
  };
}
