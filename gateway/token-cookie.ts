// Fields annotated (mel.options.v1.http_cookie) travel in a cookie instead of
// the message on gRPC-Web, the browsers' protocol: a response's value is moved
// into an HttpOnly, Secure, SameSite=Strict cookie and cleared in the message,
// so page script never holds it; a request that leaves the field empty gets it
// from the cookie. A call that took the cookie and answers without a field of
// that cookie (Logout), or fails UNAUTHENTICATED (a spent or revoked token),
// ends the cookie. Nothing here names a method: the descriptors say it all.
// HTTP/JSON and native gRPC clients keep the field in the message.

import { Readable } from "node:stream";
import type { DescExtension, DescField, DescMessage } from "@bufbuild/protobuf";
import { fromBinary, getExtension, hasExtension, toBinary } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { parseCookie, stringifySetCookie } from "cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServiceCatalog } from "./descriptors.js";
import { decodeBase64Body, encodeMessageFrame, FramingError, frameHeaderBytes, parseGrpcWebContentType, readSingleMessage } from "./grpc-web-framing.js";

const optionName = "mel.options.v1.http_cookie";

interface CookieField {
  field: DescField;
  cookie: string;
  /** The int32 field of the same message that holds the cookie's Max-Age in seconds. */
  maxAgeField: DescField | undefined;
}

interface CookieMethod {
  input: DescMessage;
  output: DescMessage;
  /** Fields filled from cookies on the way in. */
  requestFields: CookieField[];
  /** Fields moved into cookies on the way out. */
  responseFields: CookieField[];
}

/** Cookie name → the URL path the cookie is limited to (the prefix shared by every method that reads it). */
type CookiePaths = Map<string, string>;

// The option's message is read through the registry's copy of
// http_cookie.proto (it is in the descriptor set), like google.api.http.
interface HttpCookieShape {
  name: string;
  maxAgeField: string;
}

function cookieFieldsOf(message: DescMessage, option: DescExtension, where: string): CookieField[] {
  const fields: CookieField[] = [];
  for (const field of message.fields) {
    const options = field.proto.options;
    if (!options || !hasExtension(options, option)) continue;
    const { name, maxAgeField } = getExtension(options, option) as unknown as HttpCookieShape;
    if (field.fieldKind !== "scalar" || field.scalar !== 9 /* string */)
      throw new Error(`${where}.${field.name}: (${optionName}) needs a singular string field`);
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`${where}.${field.name}: (${optionName}).name "${name}" is not a valid cookie name`);
    const maxAge = maxAgeField === "" ? undefined : message.fields.find((f) => f.name === maxAgeField);
    if (maxAgeField !== "" && maxAge?.fieldKind !== "scalar") {
      throw new Error(`${where}.${field.name}: (${optionName}).max_age_field "${maxAgeField}" is not a scalar field of ${message.typeName}`);
    }
    fields.push({ field, cookie: name, maxAgeField: maxAge });
  }
  return fields;
}

/** The methods with cookie-carried fields, by gRPC path, and the path each cookie is limited to. */
export function findCookieMethods(catalog: ServiceCatalog): { methods: Map<string, CookieMethod>; paths: CookiePaths } {
  const methods = new Map<string, CookieMethod>();
  const readers = new Map<string, string[]>();
  const option = catalog.registry.getExtension(optionName);
  if (!option) return { methods, paths: new Map() };
  for (const target of catalog.methodsByPath.values()) {
    const { input, output } = target.method;
    const requestFields = cookieFieldsOf(input, option, input.typeName);
    const responseFields = cookieFieldsOf(output, option, output.typeName);
    if (requestFields.length === 0 && responseFields.length === 0) continue;
    methods.set(target.grpcPath, { input, output, requestFields, responseFields });
    for (const { cookie } of requestFields) readers.set(cookie, [...(readers.get(cookie) ?? []), target.grpcPath]);
  }
  const paths: CookiePaths = new Map();
  for (const [cookie, grpcPaths] of readers) paths.set(cookie, commonDirectory(grpcPaths));
  return { methods, paths };
}

// "/a.B/X" and "/a.B/Y" share "/a.B/": the cookie then travels only with calls to that service.
function commonDirectory(paths: string[]): string {
  let prefix = paths[0] ?? "/";
  for (const path of paths) while (!path.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix.slice(0, prefix.lastIndexOf("/") + 1) || "/";
}

export interface TokenCookieOptions {
  /** Largest gRPC-Web request message, as the proxy enforces it. */
  maxMessageBytes: number;
}

/** Adds the hooks that move annotated fields between gRPC-Web messages and cookies. */
export function registerTokenCookies(app: FastifyInstance, catalog: ServiceCatalog, options: TokenCookieOptions): void {
  const { methods, paths } = findCookieMethods(catalog);
  if (methods.size === 0) return;
  const methodOf = (request: FastifyRequest): CookieMethod | undefined => {
    if (request.method !== "POST" || !parseGrpcWebContentType(request.headers["content-type"])) return undefined;
    const [path = "/"] = request.url.split("?", 1);
    return methods.get(path);
  };

  app.addHook("preHandler", async (request) => {
    const method = methodOf(request);
    if (!method || method.requestFields.length === 0) return;
    const cookies = parseCookie(request.headers.cookie ?? "");
    const present = method.requestFields.filter(({ cookie }) => cookies[cookie] !== undefined && cookies[cookie] !== "");
    if (present.length === 0) return;
    const text = parseGrpcWebContentType(request.headers["content-type"])?.text ?? false;
    const body = await readAll(request.body as Readable, options.maxMessageBytes);
    const frame = readSingleMessage(text ? decodeBase64Body(body.toString("latin1")) : body, options.maxMessageBytes);
    const message = reflect(method.input, fromBinary(method.input, frame));
    for (const { field, cookie } of present) {
      if (message.get(field) === "") message.set(field, cookies[cookie]);
    }
    const framed = encodeMessageFrame(toBinary(method.input, message.message));
    request.body = Readable.from([text ? Buffer.from(framed.toString("base64"), "latin1") : framed]);
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const method = methodOf(request);
    if (!method) return payload;
    const setCookies: string[] = [];
    const failed = reply.getHeader("grpc-status");
    if (failed !== undefined) {
      // Trailers-only: the call failed. A refresh token the server refused is of no further use.
      if (Number(failed) === GrpcStatus.UNAUTHENTICATED) {
        for (const { cookie } of method.requestFields) setCookies.push(endCookie(cookie, paths));
      }
    } else if (typeof payload === "string" || Buffer.isBuffer(payload)) {
      const rewritten = moveResponseFields(method, typeof payload === "string" ? Buffer.from(payload, "base64") : payload, paths, setCookies);
      payload = typeof payload === "string" ? rewritten.toString("base64") : rewritten;
      const replaced = new Set(method.responseFields.map(({ cookie }) => cookie));
      for (const { cookie } of method.requestFields) if (!replaced.has(cookie)) setCookies.push(endCookie(cookie, paths));
    }
    if (setCookies.length > 0) appendSetCookie(reply, setCookies);
    return payload;
  });
}

// gRPC-Web response body: frames of a flag byte, a 4-byte big-endian length and the data;
// flag 0x80 marks the trailer frame, which is kept as it is.
function moveResponseFields(method: CookieMethod, body: Buffer, paths: CookiePaths, setCookies: string[]): Buffer {
  if (method.responseFields.length === 0) return body;
  const out: Buffer[] = [];
  let offset = 0;
  while (offset + frameHeaderBytes <= body.length) {
    const flag = body[offset] ?? 0;
    const length = body.readUInt32BE(offset + 1);
    const data = body.subarray(offset + frameHeaderBytes, offset + frameHeaderBytes + length);
    offset += frameHeaderBytes + length;
    if ((flag & 0x80) !== 0) {
      out.push(body.subarray(offset - frameHeaderBytes - length, offset));
      continue;
    }
    const message = reflect(method.output, fromBinary(method.output, data));
    for (const { field, cookie, maxAgeField } of method.responseFields) {
      const value = message.get(field);
      if (typeof value !== "string" || value === "") continue;
      const maxAge = maxAgeField ? Number(message.get(maxAgeField)) : undefined;
      setCookies.push(
        stringifySetCookie({
          name: cookie,
          value,
          httpOnly: true,
          secure: true,
          sameSite: "strict",
          path: paths.get(cookie) ?? "/",
          ...(maxAge !== undefined && maxAge > 0 ? { maxAge } : {}),
        }),
      );
      message.set(field, "");
    }
    out.push(encodeMessageFrame(toBinary(method.output, message.message)));
  }
  return Buffer.concat(out);
}

function endCookie(cookie: string, paths: CookiePaths): string {
  return stringifySetCookie({ name: cookie, value: "", httpOnly: true, secure: true, sameSite: "strict", path: paths.get(cookie) ?? "/", maxAge: 0 });
}

function appendSetCookie(reply: FastifyReply, cookies: string[]): void {
  const existing = reply.getHeader("set-cookie");
  const before = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
  reply.header("set-cookie", [...before, ...cookies]);
}

async function readAll(stream: Readable | undefined, maxMessageBytes: number): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  // Base64 (grpc-web-text) takes 4 characters for every 3 bytes.
  const limit = Math.ceil((maxMessageBytes + frameHeaderBytes) / 3) * 4 + 2;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new FramingError(GrpcStatus.RESOURCE_EXHAUSTED, `gRPC-Web request body is larger than the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
