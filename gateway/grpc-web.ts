// gRPC-Web → gRPC proxy: the request's single message frame is forwarded to
// the upstream as opaque bytes, the response messages come back as frames, and
// the call's status and trailing metadata go last as the trailer frame. A call
// that fails before its first message is answered "trailers-only": grpc-status
// in the HTTP headers and an empty body, as gRPC itself does.

import type { Readable } from "node:stream";
import { PassThrough } from "node:stream";
import type { Metadata, StatusObject } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { FastifyReply, FastifyRequest } from "fastify";
import { setHttpRoute } from "../platform/telemetry/index.js";
import type { GatewayMethod } from "./descriptors.js";
import type { GatewayContext } from "./gateway-context.js";
import { openUpstreamCall, publicFailure } from "./gateway-context.js";
import type { GrpcWebContentType } from "./grpc-web-framing.js";
import {
  Base64BodyDecoder,
  encodeGrpcMessage,
  encodeMessageFrame,
  encodeTrailerFrame,
  FramingError,
  frameHeaderBytes,
  metadataEntries,
  SingleMessageReader,
} from "./grpc-web-framing.js";
import { ClientAbortError, GatewayError, isUpstreamFailure } from "./http-status.js";
import { drainedOrClosed } from "./json-routes.js";

export async function handleGrpcWebRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  contentType: GrpcWebContentType,
  context: GatewayContext,
): Promise<FastifyReply> {
  const path = request.url.split("?", 1)[0] ?? request.url;
  const target = context.catalog.methodsByPath.get(path);
  if (!target) throw new FramingError(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
  setHttpRoute(request, path);
  const kind = target.method.methodKind;
  if (kind === "client_streaming" || kind === "bidi_streaming") {
    throw new FramingError(GrpcStatus.UNIMPLEMENTED, `${path} is ${kind.replace("_", "-")}, which gRPC-Web cannot carry`);
  }
  await context.enforceRateLimit(request, target);
  const { config } = context;
  const message = await readMessage(request.body as Readable | undefined, contentType.text, config.grpcWebMaxMessageBytes);
  const { upstream, options, streaming, cancelled } = openUpstreamCall(context, target, request, reply);
  const encode = (frame: Buffer): Buffer | string => (contentType.text ? frame.toString("base64") : frame);

  if (!streaming) {
    let outcome: Awaited<ReturnType<typeof upstream.unary>>;
    try {
      outcome = await upstream.unary(target.grpcPath, message, options);
    } catch (error: unknown) {
      return sendTrailersOnly(reply, contentType, failureStatus(error, context, target));
    }
    setHeaders(reply, contentType, outcome.headers);
    const frames = Buffer.concat([encodeMessageFrame(outcome.message), encodeTrailerFrame(GrpcStatus.OK, "", outcome.trailers)]);
    return reply.send(encode(frames));
  }

  const stream = upstream.serverStream(target.grpcPath, message, options);
  let headers: Metadata | undefined;
  let finalStatus: StatusObject | undefined;
  stream.once("metadata", (received: Metadata) => (headers = received));
  stream.once("status", (status: StatusObject) => (finalStatus = status));
  const messages = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let next: IteratorResult<Buffer>;
  try {
    next = await messages.next();
  } catch (error: unknown) {
    return sendTrailersOnly(reply, contentType, failureStatus(error, context, target));
  }
  setHeaders(reply, contentType, headers);
  const out = new PassThrough();
  reply.send(out);
  void (async () => {
    try {
      while (!next.done) {
        if (!out.write(encode(encodeMessageFrame(next.value)))) await drainedOrClosed(out);
        if (cancelled.aborted) return;
        next = await messages.next();
      }
      out.end(encode(encodeTrailerFrame(GrpcStatus.OK, "", finalStatus?.metadata)));
    } catch (error: unknown) {
      if (cancelled.aborted) {
        out.destroy();
        return;
      }
      const status = failureStatus(error, context, target);
      out.end(encode(encodeTrailerFrame(status.code, status.details, status.metadata)));
    }
  })();
  return reply;
}

function bodyLimit(maxMessageBytes: number, text: boolean): number {
  const binary = maxMessageBytes + frameHeaderBytes;
  return text ? Math.ceil(binary / 3) * 4 + 2 : binary;
}

/**
 * Reads the request's one message frame as the body arrives, failing at the
 * first bad frame (see SingleMessageReader) or as soon as the body passes the
 * size limit (RESOURCE_EXHAUSTED), without reading the rest. The stream is left
 * alone rather than destroyed so the error can still be sent; Node discards the
 * unread rest of the body. A client that goes away mid-body is a ClientAbortError.
 */
function readMessage(stream: Readable | undefined, text: boolean, maxMessageBytes: number): Promise<Buffer> {
  const reader = new SingleMessageReader(maxMessageBytes);
  if (!stream) return Promise.resolve().then(() => reader.end());
  const base64 = text ? new Base64BodyDecoder() : undefined;
  const limit = bodyLimit(maxMessageBytes, text);
  return new Promise((resolve, reject) => {
    let size = 0;
    const cleanUp = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onAbort);
      stream.off("close", onAbort);
    };
    const settle = (outcome: () => Buffer) => {
      cleanUp();
      try {
        resolve(outcome());
      } catch (error: unknown) {
        reject(error);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      try {
        if (size > limit) throw new FramingError(GrpcStatus.RESOURCE_EXHAUSTED, `gRPC-Web request body is larger than the limit of ${limit} bytes`);
        reader.push(base64 ? base64.push(chunk.toString("latin1")) : chunk);
      } catch (error: unknown) {
        cleanUp();
        reject(error);
      }
    };
    const onEnd = () =>
      settle(() => {
        base64?.end();
        return reader.end();
      });
    // 'error' (HTTP/1.1 "aborted") or 'close' before 'end' (HTTP/2 stream reset): the client went away.
    const onAbort = () => {
      cleanUp();
      reject(new ClientAbortError("the client went away before it had sent its gRPC-Web request"));
    };
    // The client may have gone before this handler ran: its events are past.
    if (stream.destroyed) return onAbort();
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onAbort);
    stream.once("close", onAbort);
  });
}

interface FailureStatus {
  code: number;
  details: string;
  metadata?: Metadata | undefined;
}

function failureStatus(error: unknown, context: GatewayContext, target: GatewayMethod): FailureStatus {
  if (isUpstreamFailure(error)) return publicFailure(context, target, error);
  context.logger.error({ err: error }, "gRPC-Web call failed in the gateway");
  return { code: GrpcStatus.INTERNAL, details: "internal gateway error" };
}

function setHeaders(reply: FastifyReply, contentType: GrpcWebContentType, metadata: Metadata | undefined): void {
  reply.code(200).header("content-type", contentType.responseType);
  for (const [name, value] of metadataEntries(metadata)) reply.header(name, value);
}

/** A gRPC error as a trailers-only response: status in the HTTP headers, no body. */
export function sendTrailersOnly(reply: FastifyReply, contentType: GrpcWebContentType, status: FailureStatus): FastifyReply {
  setHeaders(reply, contentType, status.metadata);
  reply.header("grpc-status", String(status.code));
  if (status.details !== "") reply.header("grpc-message", encodeGrpcMessage(status.details));
  return reply.send("");
}

/** The gRPC status a gateway-side error is answered with on the gRPC-Web path. */
export function grpcStatusOfGatewayError(error: unknown): FailureStatus | undefined {
  if (error instanceof FramingError || error instanceof GatewayError) return { code: error.code, details: error.message };
  return undefined;
}
