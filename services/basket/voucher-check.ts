// Whether a voucher may be used, asked of ordering (CheckVoucher over gRPC
// through the platform client: deadline, breaker) on the buyer's behalf: the
// buyer's token goes with the call. One check serves one basket call: a
// write that loses a race and tries again does not ask again.
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { OrderingServiceClient } from "../../gen/mel/ordering/v1/ordering.js";
import { UnavailableError } from "../../platform/errors/index.js";
import { callUnary } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { BasketVoucher } from "./basket-voucher.js";

export type VoucherVerdict = { usable: true; voucher: BasketVoucher } | { usable: false; reason: string };

/** Asks once per code; UNAVAILABLE (naming ordering) when ordering cannot answer. */
export type VoucherCheck = (code: string) => Promise<VoucherVerdict>;

const unavailableCodes: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.CANCELLED,
]);

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}

export function createVoucherCheck(ordering: OrderingServiceClient, call: { log: Logger; signal?: AbortSignal }): VoucherCheck {
  const verdicts = new Map<string, VoucherVerdict>();
  return async (code) => {
    const key = code.toUpperCase();
    const known = verdicts.get(key);
    if (known) return known;
    let response: Awaited<ReturnType<typeof callUnary<OrderingServiceClient, "checkVoucher">>>;
    try {
      response = await callUnary(ordering, "checkVoucher", { code }, call.signal ? { signal: call.signal } : {});
    } catch (error) {
      if (isServiceError(error) && unavailableCodes.has(error.code)) {
        call.log.warn({ upstream: "ordering", code: error.code, details: error.details }, "ordering call failed while checking a voucher");
        throw new UnavailableError("the ordering service is unavailable, so the voucher cannot be checked; your basket was not changed, try again shortly", {
          cause: error,
        });
      }
      throw error;
    }
    const verdict: VoucherVerdict = response.usable
      ? {
          usable: true,
          voucher: {
            code: response.code,
            percentOff: response.percentOff === 0 ? undefined : response.percentOff,
            amountOff: response.amountOff && { currencyCode: response.amountOff.currencyCode, amountMinor: response.amountOff.amountMinor },
          },
        }
      : { usable: false, reason: response.reason };
    verdicts.set(key, verdict);
    return verdict;
  };
}
