// Integer fields in HTTP/JSON requests, checked before @bufbuild/protobuf
// reads them, for two reasons the library cannot know about:
//  - the services' generated code (ts-proto with forceLong=number, see
//    buf.gen.yaml) holds 64-bit integers as JS numbers, so a value past
//    ±(2^53 − 1) is valid protobuf that the service cannot decode; the gateway
//    would pass it on and the caller's mistake would reach the service as an
//    undecodable body;
//  - proto3 JSON writes integers as decimal numbers or decimal strings, while
//    the library also takes "0x10", "0b11", " 12" or "+5" for 64-bit fields and
//    "1e3" or "1.0" for 32-bit ones.
// 32-bit ranges and non-integral numbers are left to the library, whose
// message already names the field.

import type { DescField, DescMessage, JsonValue } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";

const int64Kinds = new Set([ScalarType.INT64, ScalarType.SINT64, ScalarType.SFIXED64]);
const uint64Kinds = new Set([ScalarType.UINT64, ScalarType.FIXED64]);
const int32Kinds = new Set([ScalarType.INT32, ScalarType.SINT32, ScalarType.SFIXED32, ScalarType.UINT32, ScalarType.FIXED32]);

// google.protobuf wrappers whose JSON form is the bare integer.
const integerWrappers: Record<string, ScalarType> = {
  "google.protobuf.Int64Value": ScalarType.INT64,
  "google.protobuf.UInt64Value": ScalarType.UINT64,
  "google.protobuf.Int32Value": ScalarType.INT32,
  "google.protobuf.UInt32Value": ScalarType.UINT32,
};

const decimalInteger = /^-?(0|[1-9][0-9]*)$/;
const holdable = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The first integer field of `json` (a request for `message`) whose value the
 * services could not receive, as a message naming the field and what would be
 * valid; undefined when every integer is fine. Fields the message does not
 * have are left for the JSON decoder to report.
 */
export function findBadInteger(message: DescMessage, json: JsonValue, path = ""): string | undefined {
  if (!isObject(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const field = message.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field || value === null) continue;
    const problem = checkField(field, value, path === "" ? key : `${path}.${key}`);
    if (problem) return problem;
  }
  return undefined;
}

function checkField(field: DescField, value: JsonValue, here: string): string | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return checkScalar(field.scalar, value, here);
    case "message":
      return checkMessage(field.message, value, here);
    case "list":
      if (!Array.isArray(value)) return undefined;
      for (const [index, element] of value.entries()) {
        const at = `${here}[${index}]`;
        const problem =
          field.listKind === "scalar"
            ? checkScalar(field.scalar, element, at)
            : field.listKind === "message"
              ? checkMessage(field.message, element, at)
              : undefined;
        if (problem) return problem;
      }
      return undefined;
    case "map":
      if (!isObject(value)) return undefined;
      for (const [mapKey, element] of Object.entries(value)) {
        const at = `${here}["${mapKey}"]`;
        const problem =
          checkScalar(field.mapKey, mapKey, `${here} key "${mapKey}"`) ??
          (field.mapKind === "scalar"
            ? checkScalar(field.scalar, element, at)
            : field.mapKind === "message"
              ? checkMessage(field.message, element, at)
              : undefined);
        if (problem) return problem;
      }
      return undefined;
    default:
      return undefined;
  }
}

function checkMessage(message: DescMessage, value: JsonValue, here: string): string | undefined {
  const wrapped = integerWrappers[message.typeName];
  if (wrapped !== undefined) return checkScalar(wrapped, value, here);
  // Other well-known types (Struct, Value, Any, Timestamp…) have JSON forms of their own.
  if (message.typeName.startsWith("google.protobuf.")) return undefined;
  return findBadInteger(message, value, here);
}

function checkScalar(scalar: ScalarType, value: JsonValue, here: string): string | undefined {
  const is64 = int64Kinds.has(scalar) || uint64Kinds.has(scalar);
  if (!is64 && !int32Kinds.has(scalar)) return undefined;
  const unsigned = uint64Kinds.has(scalar);
  let integer: bigint;
  if (typeof value === "string") {
    if (!decimalInteger.test(value)) return `invalid value for field "${here}": ${JSON.stringify(value)} is not a decimal integer (write it like 42 or "42")`;
    if (!is64) return undefined;
    integer = BigInt(value);
  } else if (typeof value === "number") {
    if (!is64 || !Number.isInteger(value)) return undefined;
    // JSON.parse has already rounded an integer past 2^53, so its value is not the one the client wrote.
    if (!Number.isSafeInteger(value)) return outOfRange(here, "this JSON number", unsigned);
    integer = BigInt(value);
  } else {
    return undefined;
  }
  if (integer > holdable || integer < (unsigned ? 0n : -holdable)) return outOfRange(here, String(integer), unsigned);
  return undefined;
}

function outOfRange(here: string, written: string, unsigned: boolean): string {
  const range = unsigned ? `0 to ${Number.MAX_SAFE_INTEGER}` : `${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`;
  return `invalid value for field "${here}": ${written} is outside the integers this API can hold (${range})`;
}

function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
