// HTTP/JSON requests: find the google.api.http binding for the method and
// path, transcode, call the upstream, answer with proto3 JSON. Server-streaming
// RPCs answer with newline-delimited JSON as grpc-gateway does: one
// {"result": …} line per message, an {"error": …} line if the stream fails.
import { PassThrough } from "node:stream";
import type { JsonValue } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { FastifyReply, FastifyRequest } from "fastify";
import { setHttpRoute } from "../platform/telemetry/index.js";
import type { GatewayMethod, HttpBinding, HttpVerb } from "./descriptors.js";
import type { GatewayContext } from "./gateway-context.js";
import { openUpstreamCall, publicFailure } from "./gateway-context.js";
import { metadataEntries } from "./grpc-web-framing.js";
import type { StatusJson } from "./http-status.js";
import { GatewayError, httpStatusFromGrpc, isUpstreamFailure, statusJson, statusJsonFromFailure } from "./http-status.js";
import type { PathBindings } from "./path-template.js";
import { matchPathTemplate, PathDecodeError, splitRequestPath } from "./path-template.js";
import { encodeHttpRequest, responseToJson } from "./transcode.js";

const jsonType = "application/json; charset=utf-8";
const ndjsonType = "application/x-ndjson; charset=utf-8";

export interface RouteMatch {
  binding: HttpBinding;
  pathBindings: PathBindings;
}

/** The binding for a method and path; GatewayError 404 or 405 (with Allow) when there is none. */
export function findRoute(bindings: readonly HttpBinding[], method: string, path: string): RouteMatch {
  const verb = (method === "HEAD" ? "GET" : method) as HttpVerb;
  const allowed = new Set<string>();
  const requestPath = splitRequestPath(path);
  for (const binding of bindings) {
    let pathBindings: PathBindings | undefined;
    try {
      pathBindings = matchPathTemplate(binding.template, requestPath);
    } catch (error: unknown) {
      if (error instanceof PathDecodeError) throw new GatewayError(GrpcStatus.INVALID_ARGUMENT, error.message);
      throw error;
    }
    if (!pathBindings) continue;
    if (binding.httpMethod === verb) return { binding, pathBindings };
    allowed.add(binding.httpMethod);
  }
  if (allowed.size > 0) {
    const allow = [...allowed].sort().join(", ");
    throw new GatewayError(GrpcStatus.UNIMPLEMENTED, `method ${method} is not allowed on ${path}; allowed: ${allow}`, 405, { allow });
  }
  throw new GatewayError(GrpcStatus.NOT_FOUND, `no route for ${method} ${path}; see /openapi.json for the API`);
}

export async function handleJsonRequest(request: FastifyRequest, reply: FastifyReply, context: GatewayContext): Promise<FastifyReply> {
  const [path = "/", queryText = ""] = request.url.split("?", 2) as [string, string?];
  const { binding, pathBindings } = findRoute(context.catalog.bindings, request.method, path);
  setHttpRoute(request, binding.template.source);
  const target = binding.target;
  await context.enforceRateLimit(request, target);
  const requestBytes = encodeHttpRequest(
    binding,
    { pathBindings, query: new URLSearchParams(queryText), body: request.body as JsonValue | undefined },
    context.catalog.registry,
  );
  const { upstream, options, streaming, cancelled } = openUpstreamCall(context, target, request, reply);

  if (!streaming) {
    try {
      const outcome = await upstream.unary(target.grpcPath, requestBytes, options);
      setMetadataHeaders(reply, outcome.headers);
      return reply
        .code(200)
        .header("content-type", jsonType)
        .send(JSON.stringify(responseToJson(binding, outcome.message, context.catalog.registry)));
    } catch (error: unknown) {
      return sendUpstreamError(reply, error, context, target);
    }
  }

  const stream = upstream.serverStream(target.grpcPath, requestBytes, options);
  let headers: Metadata | undefined;
  stream.once("metadata", (received: Metadata) => (headers = received));
  const messages = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first: IteratorResult<Buffer>;
  try {
    first = await messages.next();
  } catch (error: unknown) {
    // Failed before any message: the HTTP status still tells what happened.
    const body = { error: failureJson(error, context, target) };
    return reply
      .code(httpStatusFromGrpc(body.error.code))
      .header("content-type", ndjsonType)
      .send(`${JSON.stringify(body)}\n`);
  }
  setMetadataHeaders(reply, headers);
  const out = new PassThrough();
  reply.code(200).header("content-type", ndjsonType).send(out);
  void pumpJsonLines(binding, first, messages, out, cancelled, context);
  return reply;
}

async function pumpJsonLines(
  binding: HttpBinding,
  first: IteratorResult<Buffer>,
  messages: AsyncIterator<Buffer>,
  out: PassThrough,
  cancelled: AbortSignal,
  context: GatewayContext,
): Promise<void> {
  let next = first;
  try {
    while (!next.done) {
      const line = `${JSON.stringify({ result: responseToJson(binding, next.value, context.catalog.registry) })}\n`;
      if (!out.write(line)) await drainedOrClosed(out);
      if (cancelled.aborted) return;
      next = await messages.next();
    }
    out.end();
  } catch (error: unknown) {
    if (cancelled.aborted) {
      out.destroy();
      return;
    }
    out.end(`${JSON.stringify({ error: failureJson(error, context, binding.target) })}\n`);
  }
}

export function drainedOrClosed(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

function failureJson(error: unknown, context: GatewayContext, target: GatewayMethod): StatusJson {
  if (isUpstreamFailure(error)) return statusJsonFromFailure(publicFailure(context, target, error), context.catalog.registry);
  context.logger.error({ err: error }, "server stream failed in the gateway");
  return statusJson(GrpcStatus.INTERNAL, "internal gateway error");
}

function sendUpstreamError(reply: FastifyReply, error: unknown, context: GatewayContext, target: GatewayMethod): FastifyReply {
  if (!isUpstreamFailure(error)) throw error;
  const body = statusJsonFromFailure(publicFailure(context, target, error), context.catalog.registry);
  if (body.code === GrpcStatus.UNAUTHENTICATED) reply.header("www-authenticate", "Bearer");
  return reply.code(httpStatusFromGrpc(body.code)).header("content-type", jsonType).send(JSON.stringify(body));
}

// Upstream response headers travel as Grpc-Metadata-<name>, as in grpc-gateway.
function setMetadataHeaders(reply: FastifyReply, metadata: Metadata | undefined): void {
  for (const [name, value] of metadataEntries(metadata)) reply.header(`grpc-metadata-${name}`, value);
}
