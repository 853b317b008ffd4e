// Assertions on the google.rpc error details a Mel service sends in
// grpc-status-details-bin: programs act on the reason and the field path,
// so tests assert those rather than message text.
import assert from "node:assert/strict";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { BadRequest, ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { errorDomain, readStatusDetails } from "../../platform/grpc/index.js";

export interface ReceivedDetails {
  code: string;
  reason: string | undefined;
  domain: string | undefined;
  metadata: Record<string, string>;
  /** The BadRequest field paths, in order. */
  fields: string[];
}

/** The status name, ErrorInfo and BadRequest fields of a failed call. */
export function detailsOf(error: ServiceError): ReceivedDetails {
  const status = readStatusDetails(error.metadata);
  const decoded = <T>(typeName: string, codec: { decode(bytes: Uint8Array): T }) =>
    (status?.details ?? []).filter((any) => any.typeUrl === `type.googleapis.com/google.rpc.${typeName}`).map((any) => codec.decode(any.value));
  const [info] = decoded("ErrorInfo", ErrorInfo);
  return {
    code: GrpcStatus[error.code] ?? String(error.code),
    reason: info?.reason,
    domain: info?.domain,
    metadata: info?.metadata ?? {},
    fields: decoded("BadRequest", BadRequest).flatMap((request) => request.fieldViolations.map((violation) => violation.field)),
  };
}

/** The rejection of `promise` as a ServiceError; fails when it resolves. */
export async function failureOf(promise: Promise<unknown>): Promise<ServiceError> {
  return promise.then(
    () => assert.fail("expected the call to fail, but it succeeded"),
    (error: ServiceError) => error,
  );
}

/** Asserts INVALID_ARGUMENT with reason FIELD_INVALID and exactly one field violation, on `field`. */
export async function assertInvalidField(promise: Promise<unknown>, field: string, what = field): Promise<void> {
  const { code, reason, domain, fields } = detailsOf(await failureOf(promise));
  assert.deepEqual({ code, reason, domain, fields }, { code: "INVALID_ARGUMENT", reason: "FIELD_INVALID", domain: errorDomain, fields: [field] }, what);
}
