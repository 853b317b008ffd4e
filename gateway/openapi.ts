// The OpenAPI 3 document served at /openapi.json, generated from the same
// route table and descriptors the gateway routes with, so it cannot drift from
// what the gateway accepts. Descriptions come from proto comments when the
// descriptor set carries source info (buf build without --exclude-source-info).
import type { DescEnum, DescField, DescFile, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type HttpBinding, leafField, type ServiceCatalog } from "./descriptors.js";

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

const anySchema: JsonObject = { type: "object", properties: { "@type": { type: "string" } }, additionalProperties: true };

// Schemas of the well-known types, as their proto3 JSON mapping writes them.
const wellKnownSchemas: Record<string, JsonObject> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$", example: "1.5s" },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated field paths", example: "name,price" },
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Any": anySchema,
  "google.protobuf.StringValue": { type: "string", nullable: true },
  "google.protobuf.BytesValue": { type: "string", format: "byte", nullable: true },
  "google.protobuf.BoolValue": { type: "boolean", nullable: true },
  "google.protobuf.Int32Value": { type: "integer", format: "int32", nullable: true },
  "google.protobuf.UInt32Value": { type: "integer", format: "int64", minimum: 0, nullable: true },
  "google.protobuf.Int64Value": { type: "string", format: "int64", nullable: true },
  "google.protobuf.UInt64Value": { type: "string", format: "uint64", nullable: true },
  "google.protobuf.FloatValue": { type: "number", format: "float", nullable: true },
  "google.protobuf.DoubleValue": { type: "number", format: "double", nullable: true },
};

const statusSchemaName = "google.rpc.Status";
const statusSchema: JsonObject = {
  type: "object",
  description: "The error body of every failed request: a gRPC status code, a message, and typed details.",
  properties: {
    code: { type: "integer", format: "int32", description: "gRPC status code (google.rpc.Code)" },
    message: { type: "string" },
    details: { type: "array", items: anySchema },
  },
  required: ["code", "message", "details"],
};

// ScalarType numbers from google/protobuf/descriptor.proto.
function scalarSchema(scalar: number): JsonObject {
  switch (scalar) {
    case 1:
      return { type: "number", format: "double" };
    case 2:
      return { type: "number", format: "float" };
    case 3:
    case 16:
    case 18:
      return { type: "string", format: "int64" };
    case 4:
    case 6:
      return { type: "string", format: "uint64" };
    case 5:
    case 15:
    case 17:
      return { type: "integer", format: "int32" };
    case 13:
    case 7:
      return { type: "integer", format: "int64", minimum: 0, maximum: 4294967295 };
    case 8:
      return { type: "boolean" };
    case 12:
      return { type: "string", format: "byte" };
    default:
      return { type: "string" };
  }
}

export function createOpenApiDocument(catalog: ServiceCatalog, info: OpenApiInfo): JsonObject {
  const comments = collectComments([...catalog.registry.files]);
  const schemas: Record<string, JsonObject> = { [statusSchemaName]: statusSchema };
  const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

  const enumSchema = (desc: DescEnum): JsonObject => {
    if (!schemas[desc.typeName]) {
      schemas[desc.typeName] = withDescription({ type: "string", enum: desc.values.map((v) => v.name) }, comments.get(desc.typeName));
    }
    return ref(desc.typeName);
  };
  const messageSchema = (desc: DescMessage): JsonObject => {
    const known = wellKnownSchemas[desc.typeName];
    if (known) return known;
    if (!schemas[desc.typeName]) {
      const properties: JsonObject = {};
      schemas[desc.typeName] = { type: "object" }; // placeholder first: messages may recurse
      for (const field of desc.fields) properties[field.jsonName] = fieldSchema(field);
      schemas[desc.typeName] = withDescription({ type: "object", properties }, comments.get(desc.typeName));
    }
    return ref(desc.typeName);
  };
  const singularSchema = (field: DescField): JsonObject => {
    if (field.fieldKind === "message") return messageSchema(field.message);
    if (field.fieldKind === "enum") return enumSchema(field.enum);
    if (field.fieldKind === "scalar") return scalarSchema(field.scalar);
    throw new Error("singularSchema takes singular fields only");
  };
  function fieldSchema(field: DescField): JsonObject {
    let schema: JsonObject;
    if (field.fieldKind === "list") {
      const item =
        field.listKind === "message" ? messageSchema(field.message) : field.listKind === "enum" ? enumSchema(field.enum) : scalarSchema(field.scalar);
      schema = { type: "array", items: item };
    } else if (field.fieldKind === "map") {
      const value = field.mapKind === "message" ? messageSchema(field.message) : field.mapKind === "enum" ? enumSchema(field.enum) : scalarSchema(field.scalar);
      schema = { type: "object", additionalProperties: value };
    } else {
      schema = singularSchema(field);
    }
    return withDescription(schema, comments.get(`${field.parent.typeName}.${field.name}`));
  }

  const paths: Record<string, JsonObject> = {};
  for (const binding of catalog.bindings) {
    const openApiPath = binding.template.source.replace(/\{([^}=]+)(=[^}]*)?\}/g, "{$1}");
    const item = paths[openApiPath] ?? {};
    paths[openApiPath] = item;
    item[binding.httpMethod.toLowerCase()] = operation(binding);
  }

  function operation(binding: HttpBinding): JsonObject {
    const { method, service } = binding.target;
    const parameters: JsonValue[] = [];
    for (const [fieldPath, fields] of binding.pathFields) {
      parameters.push({ name: fieldPath, in: "path", required: true, schema: singularSchema(leafField(fields)) });
    }
    if (binding.body !== "*") {
      const bound = new Set(binding.pathFields.keys());
      for (const parameter of queryParameters(method.input, "", bound, binding.bodyField, 0, new Set())) parameters.push(parameter);
    }
    const op: JsonObject = {
      operationId: `${service.name}_${method.name}${binding.bindingIndex > 0 ? `_${binding.bindingIndex + 1}` : ""}`,
      tags: [service.name],
      parameters,
      responses: {
        "200": responseFor(binding),
        default: { description: "An error, as a google.rpc.Status", content: { "application/json": { schema: ref(statusSchemaName) } } },
      },
    };
    const description = comments.get(`${service.typeName}.${method.name}`);
    if (description) op.description = description;
    if (binding.body !== "") op.requestBody = requestBodyFor(binding);
    return op;
  }

  function queryParameters(
    message: DescMessage,
    prefix: string,
    bound: Set<string>,
    bodyField: DescField | undefined,
    depth: number,
    seen: Set<string>,
  ): JsonObject[] {
    const parameters: JsonObject[] = [];
    for (const field of message.fields) {
      if (depth === 0 && field === bodyField) continue;
      const name = `${prefix}${field.jsonName}`;
      const protoPath = `${prefix}${field.name}`;
      if (bound.has(protoPath) || bound.has(name)) continue;
      if (field.fieldKind === "map") continue;
      if (field.fieldKind === "message" && !wellKnownSchemas[field.message.typeName]) {
        // Nested fields are set as a.b=c; stop at recursion so the list stays finite.
        if (seen.has(field.message.typeName) || depth >= 4) continue;
        parameters.push(...queryParameters(field.message, `${name}.`, bound, bodyField, depth + 1, new Set([...seen, message.typeName])));
        continue;
      }
      if (field.fieldKind === "list" && field.listKind === "message" && !wellKnownSchemas[field.message.typeName]) continue;
      const parameter: JsonObject = { name, in: "query", required: false, schema: fieldSchema(field) };
      if (field.fieldKind === "list") {
        parameter.style = "form";
        parameter.explode = true;
      }
      parameters.push(parameter);
    }
    return parameters;
  }

  function requestBodyFor(binding: HttpBinding): JsonObject {
    let schema: JsonObject;
    if (binding.bodyField) {
      schema = fieldSchema(binding.bodyField);
    } else {
      // body "*": the whole request, less what the path already sets.
      const input = binding.target.method.input;
      const boundTopLevel = new Set([...binding.pathFields.values()].filter((fields) => fields.length === 1).map((fields) => fields[0]));
      if (boundTopLevel.size === 0) {
        schema = messageSchema(input);
      } else {
        const properties: JsonObject = {};
        for (const field of input.fields) if (!boundTopLevel.has(field)) properties[field.jsonName] = fieldSchema(field);
        schema = { type: "object", properties };
      }
    }
    return { required: binding.body !== "*", content: { "application/json": { schema } } };
  }

  function responseFor(binding: HttpBinding): JsonObject {
    const output = binding.target.method.output;
    const schema = binding.responseField ? fieldSchema(binding.responseField) : messageSchema(output);
    if (binding.target.method.methodKind === "server_streaming") {
      return {
        description: 'A stream of newline-delimited JSON objects: {"result": …} per message, {"error": …} if the stream fails',
        content: { "application/x-ndjson": { schema: { type: "object", properties: { result: schema, error: ref(statusSchemaName) } } } },
      };
    }
    return { description: "OK", content: { "application/json": { schema } } };
  }

  // Generate every operation first (that fills the schemas), then assemble.
  const document: JsonObject = {
    openapi: "3.0.3",
    info: { ...info },
    tags: catalog.services.map((s) => withDescription({ name: s.name }, comments.get(s.typeName))),
    paths,
    components: { schemas },
  };
  return document;
}

// In OpenAPI 3.0 a $ref's siblings are ignored, so a described reference is wrapped.
function withDescription(schema: JsonObject, description: string | undefined): JsonObject {
  if (!description) return schema;
  if ("$ref" in schema) return { allOf: [schema], description };
  return { ...schema, description };
}

/** Leading comments by full name ("pkg.Message", "pkg.Message.field", "pkg.Service.Method"). */
function collectComments(files: DescFile[]): Map<string, string> {
  const comments = new Map<string, string>();
  for (const file of new Set(files)) {
    const byPath = new Map<string, string>();
    for (const location of file.proto.sourceCodeInfo?.location ?? []) {
      const text = location.leadingComments.trim();
      if (text !== "") byPath.set(location.path.join(","), text.replace(/\n /g, "\n"));
    }
    if (byPath.size === 0) continue;
    const note = (name: string, path: number[]) => {
      const text = byPath.get(path.join(","));
      if (text) comments.set(name, text);
    };
    const visitMessage = (message: DescMessage, path: number[]) => {
      note(message.typeName, path);
      for (const field of message.fields) note(`${message.typeName}.${field.name}`, [...path, 2, message.proto.field.indexOf(field.proto)]);
      for (const nested of message.nestedMessages) visitMessage(nested, [...path, 3, message.proto.nestedType.indexOf(nested.proto)]);
      for (const nested of message.nestedEnums) note(nested.typeName, [...path, 4, message.proto.enumType.indexOf(nested.proto)]);
    };
    for (const message of file.messages) visitMessage(message, [4, file.proto.messageType.indexOf(message.proto)]);
    for (const desc of file.enums) note(desc.typeName, [5, file.proto.enumType.indexOf(desc.proto)]);
    for (const service of file.services) {
      const servicePath = [6, file.proto.service.indexOf(service.proto)];
      note(service.typeName, servicePath);
      for (const method of service.methods) note(`${service.typeName}.${method.name}`, [...servicePath, 2, service.proto.method.indexOf(method.proto)]);
    }
  }
  return comments;
}
