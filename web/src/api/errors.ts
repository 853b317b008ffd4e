// What a failed call means for the page. Field errors come from BadRequest
// field violations in the status details when the server sends them, and
// otherwise from the INVALID_ARGUMENT message, which services write as
// "<field>: <reason>" with the field in proto spelling ("card.number").
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../../gen/web/google/rpc/error_details_pb.js";

/** Field path in proto spelling → the server's reason. */
export type FieldErrors = Record<string, string>;

const fieldMessage = /^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): (.+)$/s;

export function fieldErrorsOf(error: unknown): FieldErrors {
  if (!(error instanceof ConnectError) || error.code !== Code.InvalidArgument) return {};
  const fields: FieldErrors = {};
  for (const detail of error.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) fields[violation.field] = violation.description;
  }
  if (Object.keys(fields).length > 0) return fields;
  const match = fieldMessage.exec(error.rawMessage);
  if (match?.[1] && match[2]) fields[match[1]] = match[2];
  return fields;
}

/** A sentence for the shopper: the server's message (already written for people), or what went wrong on the way. */
export function messageOf(error: unknown): string {
  if (error instanceof ConnectError) {
    if (error.code === Code.Unavailable || error.code === Code.DeadlineExceeded) return "A loja não respondeu a tempo. Tente de novo em instantes.";
    return error.rawMessage;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isCode(error: unknown, code: Code): boolean {
  return error instanceof ConnectError && error.code === code;
}

/** The metadata of the error's google.rpc.ErrorInfo (e.g. "limit"), empty when it carries none. */
export function errorMetadataOf(error: unknown): Record<string, string> {
  if (!(error instanceof ConnectError)) return {};
  const [info] = error.findDetails(ErrorInfoSchema);
  return info ? { ...info.metadata } : {};
}
