// The voucher RPCs of OrderingService: admins create, change, deactivate and
// list vouchers; basket checks a code for its buyer before showing the
// discount. Redemption is not here: the order's own transaction takes it
// (events/user-checkout-accepted.handler.ts).
import type { Kysely } from "kysely";
import type {
  CheckVoucherRequest,
  CheckVoucherResponse,
  CreateVoucherRequest,
  CreateVoucherResponse,
  DeactivateVoucherRequest,
  DeactivateVoucherResponse,
  ListVouchersRequest,
  ListVouchersResponse,
  UpdateVoucherRequest,
  UpdateVoucherResponse,
} from "../../gen/mel/ordering/v1/ordering.js";
import { AbortedError, AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../platform/errors/index.js";
import type { CallContext } from "../../platform/grpc/index.js";
import { isUniqueViolation } from "../../platform/sql/index.js";
import type { OrderingDatabase } from "./order.table.js";
import { checkPageSize } from "./order-page-token.js";
import {
  applyVoucherUpdate,
  resolveVoucherUpdateMask,
  type Voucher,
  validateVoucherCode,
  validateVoucherTerms,
  voucherCodeKey,
  voucherUsability,
} from "./voucher.js";
import { protoToTerms, voucherToProto } from "./voucher.mapper.js";
import { findVoucher, insertVoucher, listVouchers, updateVoucher } from "./voucher.repository.js";

export interface VoucherMethodsDeps {
  db: Kysely<OrderingDatabase>;
  now: () => Date;
}

/** Redemptions racing an admin's change make it read again; this many tries before ABORTED. */
const maxUpdateAttempts = 5;

function encodeVoucherPageToken(codeKey: string): string {
  return Buffer.from(JSON.stringify({ c: codeKey })).toString("base64url");
}

function decodeVoucherPageToken(token: string): string | undefined {
  if (token === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const code = (parsed as { c?: unknown } | undefined)?.c;
  if (typeof code !== "string" || code === "") {
    throw new InvalidArgumentError("page_token", "is not a token from a previous ListVouchers response; send the next_page_token as received, or none");
  }
  return code;
}

function notFound(code: string): NotFoundError {
  return new NotFoundError(`voucher ${code} does not exist`);
}

export function createVoucherMethods({ db, now }: VoucherMethodsDeps) {
  /** Reads the voucher, applies `change` and writes it on what was read, again when a redemption got in between. */
  async function changeVoucher(code: string, change: (voucher: Voucher) => ReturnType<typeof applyVoucherUpdate>): Promise<Voucher> {
    for (let attempt = 1; attempt <= maxUpdateAttempts; attempt++) {
      const current = await findVoucher(db, code);
      if (current === undefined) throw notFound(code);
      const terms = validateVoucherTerms(change(current));
      const at = now();
      if (await updateVoucher(db, current, terms, at)) return { ...terms, createTime: current.createTime, updateTime: at };
    }
    throw new AbortedError(`voucher ${code} kept changing (orders redeeming it) while it was being updated; try again`);
  }

  return {
    async createVoucher(request: CreateVoucherRequest, ctx: CallContext): Promise<CreateVoucherResponse> {
      if (request.voucher === undefined) throw new InvalidArgumentError("voucher", "is required");
      const terms = validateVoucherTerms(protoToTerms(request.voucher));
      try {
        const voucher = await insertVoucher(db, terms, now());
        ctx.log.info({ code: voucher.code }, "voucher created");
        return { voucher: voucherToProto(voucher) };
      } catch (error) {
        if (isUniqueViolation(error))
          throw new AlreadyExistsError(`voucher ${voucherCodeKey(terms.code)} already exists (codes are matched whatever the case)`);
        throw error;
      }
    },

    async updateVoucher(request: UpdateVoucherRequest, ctx: CallContext): Promise<UpdateVoucherResponse> {
      if (request.voucher === undefined) throw new InvalidArgumentError("voucher", "is required");
      const code = validateVoucherCode(request.voucher.code, "voucher.code");
      const fields = resolveVoucherUpdateMask(request.updateMask);
      const patch = protoToTerms(request.voucher);
      const voucher = await changeVoucher(code, (current) => applyVoucherUpdate(current, patch, fields));
      ctx.log.info({ code: voucher.code, fields: [...fields] }, "voucher updated");
      return { voucher: voucherToProto(voucher) };
    },

    async deactivateVoucher(request: DeactivateVoucherRequest, ctx: CallContext): Promise<DeactivateVoucherResponse> {
      const code = validateVoucherCode(request.code, "code");
      const voucher = await changeVoucher(code, (current) => ({ ...current, active: false }));
      ctx.log.info({ code: voucher.code }, "voucher deactivated");
      return { voucher: voucherToProto(voucher) };
    },

    async listVouchers(request: ListVouchersRequest): Promise<ListVouchersResponse> {
      const pageSize = checkPageSize(request.pageSize);
      const after = decodeVoucherPageToken(request.pageToken);
      // One more than asked says whether another page exists.
      const vouchers = await listVouchers(db, pageSize + 1, after);
      const page = vouchers.slice(0, pageSize);
      const last = page.at(-1);
      return {
        vouchers: page.map(voucherToProto),
        nextPageToken: vouchers.length > pageSize && last ? encodeVoucherPageToken(voucherCodeKey(last.code)) : "",
      };
    },

    async checkVoucher(request: CheckVoucherRequest): Promise<CheckVoucherResponse> {
      const code = validateVoucherCode(request.code, "code");
      const voucher = await findVoucher(db, code);
      const usability = voucherUsability(voucher, code, now());
      if (!usability.usable || voucher === undefined) {
        return { usable: false, reason: usability.usable ? "" : usability.reason, code, percentOff: 0, amountOff: undefined, validUntil: undefined };
      }
      return {
        usable: true,
        reason: "",
        code: voucher.code,
        percentOff: voucher.percentOff ?? 0,
        amountOff: voucher.amountOff && { ...voucher.amountOff },
        validUntil: voucher.validUntil,
      };
    },
  };
}
