// The gateway's whole API surface comes from the descriptor set that `buf build`
// writes (gen/descriptor.binpb, imports included): every RPC of an exposed
// service is reachable over gRPC-Web, and every RPC with a google.api.http
// annotation also gets its HTTP/JSON routes. Nothing here names a service.
import { readFileSync } from "node:fs";
import type { DescExtension, DescField, DescMessage, DescMethod, DescService, FileRegistry } from "@bufbuild/protobuf";
import { createFileRegistry, fromBinary, getExtension, hasExtension } from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { PathTemplate } from "./path-template.js";
import { compareTemplateSpecificity, parsePathTemplate } from "./path-template.js";

export type HttpVerb = "GET" | "PUT" | "POST" | "DELETE" | "PATCH";

export interface GatewayMethod {
  service: DescService;
  method: DescMethod;
  /** The gRPC path, "/mel.catalog.v1.CatalogService/GetItem". */
  grpcPath: string;
}

export interface HttpBinding {
  target: GatewayMethod;
  httpMethod: HttpVerb;
  template: PathTemplate;
  /** "" (no body), "*" (the whole request) or a top-level request field name. */
  body: string;
  bodyField: DescField | undefined;
  /** "" (the whole response) or a top-level response field name. */
  responseBody: string;
  responseField: DescField | undefined;
  /** Field paths bound by the path template, resolved against the request. */
  pathFields: Map<string, DescField[]>;
  /** 0 for the main rule, 1… for additional_bindings (used for operation ids). */
  bindingIndex: number;
}

export interface ServiceCatalog {
  registry: FileRegistry;
  services: DescService[];
  methodsByPath: Map<string, GatewayMethod>;
  /** Most specific template first. */
  bindings: HttpBinding[];
}

export class DescriptorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DescriptorError";
  }
}

export function readDescriptorSet(path: string): FileDescriptorSet {
  return fromBinary(FileDescriptorSetSchema, readFileSync(path));
}

/**
 * Builds the catalog of the given services (full names) from a descriptor set.
 * Throws DescriptorError for a service missing from the set or an annotation
 * that names fields the request or response does not have: a contract bug
 * that must stop the gateway at start-up, not surface on the first request.
 */
export function createServiceCatalog(set: FileDescriptorSet, serviceNames: readonly string[]): ServiceCatalog {
  const registry = createFileRegistry(set);
  const httpRule = registry.getExtension("google.api.http");
  const services: DescService[] = [];
  const methodsByPath = new Map<string, GatewayMethod>();
  const bindings: HttpBinding[] = [];
  for (const name of serviceNames) {
    const service = registry.getService(name);
    if (!service) throw new DescriptorError(`service ${name} is not in the descriptor set; run npm run gen`);
    services.push(service);
    for (const method of service.methods) {
      const target: GatewayMethod = { service, method, grpcPath: `/${service.typeName}/${method.name}` };
      methodsByPath.set(target.grpcPath, target);
      if (httpRule) bindings.push(...bindingsOf(target, httpRule));
    }
  }
  bindings.sort((a, b) => compareTemplateSpecificity(a.template, b.template));
  return { registry, services, methodsByPath, bindings };
}

// The HttpRule is read through the registry's own copy of google/api/http.proto
// (it is in the descriptor set), so no generated code for google.api is needed.
interface HttpRuleShape {
  pattern: { case: string | undefined; value?: unknown };
  body: string;
  responseBody: string;
  additionalBindings: HttpRuleShape[];
}

function bindingsOf(target: GatewayMethod, httpRule: DescExtension): HttpBinding[] {
  const options = target.method.proto.options;
  if (!options || !hasExtension(options, httpRule)) return [];
  const rule = getExtension(options, httpRule) as unknown as HttpRuleShape;
  const rules = [rule, ...rule.additionalBindings];
  return rules.map((r, bindingIndex) => bindingOf(target, r, bindingIndex));
}

function bindingOf(target: GatewayMethod, rule: HttpRuleShape, bindingIndex: number): HttpBinding {
  const where = `${target.grpcPath} (google.api.http${bindingIndex > 0 ? ` additional_bindings[${bindingIndex - 1}]` : ""})`;
  let httpMethod: HttpVerb;
  let pathText: string;
  const { pattern } = rule;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      httpMethod = pattern.case.toUpperCase() as HttpVerb;
      pathText = pattern.value as string;
      break;
    case "custom": {
      const custom = pattern.value as { kind: string; path: string };
      const kind = custom.kind.toUpperCase();
      if (!["GET", "PUT", "POST", "DELETE", "PATCH"].includes(kind)) throw new DescriptorError(`${where}: custom method ${custom.kind} is not supported`);
      httpMethod = kind as HttpVerb;
      pathText = custom.path;
      break;
    }
    default:
      throw new DescriptorError(`${where}: the rule has no HTTP method`);
  }
  let template: PathTemplate;
  try {
    template = parsePathTemplate(pathText);
  } catch (error: unknown) {
    throw new DescriptorError(`${where}: ${(error as Error).message}`);
  }
  const input = target.method.input;
  const pathFields = new Map<string, DescField[]>();
  for (const variable of template.variables) {
    const fields = resolveFieldPath(input, variable.fieldPath);
    if (!fields) throw new DescriptorError(`${where}: path variable {${variable.fieldPath}} is not a field of ${input.typeName}`);
    const leaf = leafField(fields);
    if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum") {
      throw new DescriptorError(`${where}: path variable {${variable.fieldPath}} must be a singular scalar or enum field`);
    }
    pathFields.set(variable.fieldPath, fields);
  }
  let bodyField: DescField | undefined;
  if (rule.body !== "" && rule.body !== "*") {
    bodyField = input.fields.find((f) => f.name === rule.body);
    if (!bodyField) throw new DescriptorError(`${where}: body "${rule.body}" is not a field of ${input.typeName}`);
  }
  // http.proto allows a body on DELETE; on GET it is a contract mistake.
  if (rule.body !== "" && httpMethod === "GET") throw new DescriptorError(`${where}: a GET rule cannot have a body`);
  let responseField: DescField | undefined;
  if (rule.responseBody !== "") {
    responseField = target.method.output.fields.find((f) => f.name === rule.responseBody);
    if (!responseField) throw new DescriptorError(`${where}: response_body "${rule.responseBody}" is not a field of ${target.method.output.typeName}`);
  }
  if (target.method.methodKind === "client_streaming" || target.method.methodKind === "bidi_streaming") {
    throw new DescriptorError(`${where}: client-streaming RPCs cannot have HTTP routes`);
  }
  return {
    target,
    httpMethod,
    template,
    body: rule.body,
    bodyField,
    responseBody: rule.responseBody,
    responseField,
    pathFields,
    bindingIndex,
  };
}

/** Resolves "a.b.c" (proto or JSON names) to the chain of fields; undefined if any step is missing. */
export function resolveFieldPath(message: DescMessage, path: string): DescField[] | undefined {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const part of path.split(".")) {
    if (!current) return undefined;
    const field: DescField | undefined = current.fields.find((f) => f.name === part || f.jsonName === part);
    if (!field) return undefined;
    fields.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/** The last field of a field path: the one a path variable or query parameter sets. resolveFieldPath never returns an empty path. */
export function leafField(fields: readonly DescField[]): DescField {
  const leaf = fields.at(-1);
  if (leaf === undefined) throw new DescriptorError("a field path has at least one field");
  return leaf;
}
