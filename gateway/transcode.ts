// HTTP/JSON ⇄ protobuf for one google.api.http binding: builds the request
// message from path variables, the query string and the body, and renders the
// response, with the proto3 JSON mapping of @bufbuild/protobuf (lowerCamelCase
// or original names accepted, int64 as strings, enums by name, well-known types).

import type { DescField, DescMessage, JsonObject, JsonValue, Registry } from "@bufbuild/protobuf";
import { create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { HttpBinding } from "./descriptors.js";
import { leafField, resolveFieldPath } from "./descriptors.js";
import { GatewayError } from "./http-status.js";
import { findBadInteger } from "./json-integers.js";
import type { PathBindings } from "./path-template.js";

export interface HttpRequestParts {
  pathBindings: PathBindings;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when the request had none. */
  body: JsonValue | undefined;
}

function invalid(message: string): GatewayError {
  return new GatewayError(GrpcStatus.INVALID_ARGUMENT, message);
}

/** Builds and encodes the request message; throws GatewayError(INVALID_ARGUMENT) naming the offending field. */
export function encodeHttpRequest(binding: HttpBinding, parts: HttpRequestParts, registry: Registry): Uint8Array {
  const input = binding.target.method.input;
  const json = requestJson(binding, parts);
  const badInteger = findBadInteger(input, json);
  if (badInteger) throw invalid(badInteger);
  try {
    return toBinary(input, fromJson(input, json, { registry }));
  } catch (error: unknown) {
    throw invalid(locateJsonError(input, json, registry) ?? `invalid request: ${(error as Error).message}`);
  }
}

function requestJson(binding: HttpBinding, parts: HttpRequestParts): JsonObject {
  const input = binding.target.method.input;
  let json: JsonObject = {};
  if (binding.body === "*") {
    if (parts.body !== undefined && parts.body !== null) {
      if (!isJsonObject(parts.body)) throw invalid(`the request body must be a JSON object (${input.typeName})`);
      json = parts.body;
    }
  } else if (binding.bodyField) {
    if (parts.body !== undefined) json[binding.bodyField.jsonName] = parts.body;
  } else if (parts.body !== undefined && parts.body !== null && !(isJsonObject(parts.body) && Object.keys(parts.body).length === 0)) {
    throw invalid(`${binding.httpMethod} ${binding.template.source} takes no request body; send the fields as query parameters`);
  }
  setQueryParameters(binding, parts.query, json);
  for (const [fieldPath, value] of parts.pathBindings) {
    const fields = binding.pathFields.get(fieldPath);
    if (fields === undefined)
      throw new Error(`path variable {${fieldPath}} of ${binding.template.source} has no field: the route table and its template disagree`);
    setAtPath(json, fields, paramToJson(leafField(fields), [value], `path variable {${fieldPath}}`));
  }
  return json;
}

function setQueryParameters(binding: HttpBinding, query: URLSearchParams, json: JsonObject): void {
  const keys = new Set(query.keys());
  if (keys.size === 0) return;
  if (binding.body === "*") {
    throw invalid(`query parameters are not accepted by ${binding.httpMethod} ${binding.template.source}: every field comes from the JSON body`);
  }
  const input = binding.target.method.input;
  for (const key of keys) {
    const fields = resolveFieldPath(input, key);
    if (!fields) throw invalid(`unknown query parameter "${key}": ${input.typeName} has no such field`);
    if (binding.bodyField && fields[0] === binding.bodyField) {
      throw invalid(`query parameter "${key}" names a field of the request body ("${binding.bodyField.jsonName}"); set it in the body`);
    }
    for (const bound of binding.pathFields.values()) {
      if (bound.length <= fields.length && bound.every((f, i) => f === fields[i])) {
        throw invalid(`query parameter "${key}" is already set by the path`);
      }
    }
    for (const parent of fields.slice(0, -1)) {
      if (parent.fieldKind !== "message") throw invalid(`query parameter "${key}": ${parent.name} is not a message, so it has no sub-fields`);
    }
    setAtPath(json, fields, paramToJson(leafField(fields), query.getAll(key), `query parameter "${key}"`));
  }
}

// Path and query values are strings; proto3 JSON takes strings for every
// number type, so only booleans, numeric enums and wrappers need converting.
function paramToJson(field: DescField, values: string[], what: string): JsonValue {
  if (field.fieldKind === "list") {
    return values.map((value) =>
      scalarParam(
        field.listKind === "scalar" ? field.scalar : undefined,
        field.listKind === "enum",
        field.listKind === "message" ? field.message : undefined,
        value,
        what,
      ),
    );
  }
  if (values.length > 1) throw invalid(`${what} is given ${values.length} times but ${field.name} is not repeated`);
  if (field.fieldKind === "map") throw invalid(`${what}: map field ${field.name} cannot be set from the URL; use the JSON body`);
  const [value = ""] = values;
  if (field.fieldKind === "scalar") return scalarParam(field.scalar, false, undefined, value, what);
  if (field.fieldKind === "enum") return scalarParam(undefined, true, undefined, value, what);
  return scalarParam(undefined, false, field.message, value, what);
}

// ScalarType numbers from google/protobuf/descriptor.proto.
const BOOL = 8;
const wrapperOfBool = "google.protobuf.BoolValue";
const stringLikeMessages = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
  "google.protobuf.Int32Value",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.FloatValue",
  "google.protobuf.DoubleValue",
]);

function scalarParam(scalar: number | undefined, isEnum: boolean, message: DescMessage | undefined, value: string, what: string): JsonValue {
  if (isEnum) return /^-?\d+$/.test(value) ? Number(value) : value;
  if (scalar === BOOL || message?.typeName === wrapperOfBool) {
    if (value === "true" || value === "1") return true;
    if (value === "false" || value === "0") return false;
    throw invalid(`${what}: "${value}" is not a boolean (use true or false)`);
  }
  if (message && !stringLikeMessages.has(message.typeName)) {
    throw invalid(`${what} is a ${message.typeName} message; set its fields one by one ("${what.replace(/^query parameter "|"$/g, "")}.<field>")`);
  }
  return value;
}

// Sets a value at a field path, reusing the key the client used for each step
// (original or lowerCamelCase name) so a path value overrides a body value.
function setAtPath(json: JsonObject, fields: DescField[], value: JsonValue): void {
  let target = json;
  fields.forEach((field, index) => {
    const existing = [field.jsonName, field.name].find((key) => Object.hasOwn(target, key));
    const key = existing ?? field.jsonName;
    if (index === fields.length - 1) {
      target[key] = value;
      return;
    }
    const next = target[key];
    if (next === undefined || next === null) {
      const created: JsonObject = {};
      target[key] = created;
      target = created;
    } else if (isJsonObject(next)) {
      target = next;
    } else {
      throw invalid(`field "${key}" must be a JSON object`);
    }
  });
}

/**
 * Re-walks a JSON value that failed to decode, to name the field at fault
 * ("item.price.amountMinor: …"); the library's own message names the message
 * type but, for enums and well-known types, not the field.
 */
function locateJsonError(message: DescMessage, json: JsonValue, registry: Registry, path = ""): string | undefined {
  if (!isJsonObject(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const here = path === "" ? key : `${path}.${key}`;
    const field = message.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) return `unknown field "${here}": ${message.typeName} has no such field`;
    if (field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf.")) {
      const inner = locateJsonError(field.message, value, registry, here);
      if (inner) return inner;
    }
    if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(value) && !field.message.typeName.startsWith("google.protobuf.")) {
      for (const [index, item] of value.entries()) {
        const inner = locateJsonError(field.message, item, registry, `${here}[${index}]`);
        if (inner) return inner;
      }
    }
    try {
      fromJson(message, { [key]: value }, { registry });
    } catch (error: unknown) {
      const reason = (error as Error).message.replace(/^cannot decode (field|message|enum) \S+ from JSON: /, "");
      const enumDesc = field.fieldKind === "enum" ? field.enum : field.fieldKind === "list" && field.listKind === "enum" ? field.enum : undefined;
      const hint = enumDesc ? `; use one of ${enumDesc.values.map((v) => v.name).join(", ")}` : "";
      return `invalid value for field "${here}": ${reason}${hint}`;
    }
  }
  return undefined;
}

/** Decodes an upstream response and renders it (or its response_body field) as proto3 JSON. */
export function responseToJson(binding: HttpBinding, bytes: Uint8Array, registry: Registry): JsonValue {
  const output = binding.target.method.output;
  const message = fromBinary(output, bytes);
  const options = { registry, alwaysEmitImplicit: true };
  const field = binding.responseField;
  if (!field) return toJson(output, message, options);
  if (field.fieldKind === "message") {
    const reflected = reflect(output, message);
    const value = reflected.isSet(field) ? reflected.get(field).message : create(field.message);
    return toJson(field.message, value, options);
  }
  return (toJson(output, message, options) as JsonObject)[field.jsonName] ?? null;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
