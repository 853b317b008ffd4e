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
import type { GatewayMethod } from "./descriptors.js";
import type { GatewayContext } from "./gateway-context.js";
import { openUpstreamCall, publicFailure } from "./gateway-context.js";
import type { GrpcWebContentType } from "./grpc-web-framing.js";
import {
  decodeBase64Body,
  encodeGrpcMessage,
  encodeMessageFrame,
  encodeTrailerFrame,
  FramingError,
  frameHeaderBytes,
  metadataEntries,
  readSingleMessage,
} from "./grpc-web-framing.js";
import { GatewayError, isUpstreamFailure } from "./http-status.js";
import { drainedOrClosed } from "./json-routes.js";

export async function handleGrpcWebRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  contentType: GrpcWebContentType,
  context: GatewayContext,
): Promise<FastifyReply> {
  const path = request.url.split("?", 1)[0]!;
  const target = context.catalog.methodsByPath.get(path);
  if (!target) throw new FramingError(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
  const kind = target.method.methodKind;
  if (kind === "client_streaming" || kind === "bidi_streaming") {
    throw new FramingError(GrpcStatus.UNIMPLEMENTED, `${path} is ${kind.replace("_", "-")}, which gRPC-Web cannot carry`);
  }
  await context.enforceRateLimit(request, target);
  const { config } = context;
  const body = await readBody(request.body as Readable, bodyLimit(config.grpcWebMaxMessageBytes, contentType.text));
  const message = readSingleMessage(contentType.text ? decodeBase64Body(body.toString("latin1")) : body, config.grpcWebMaxMessageBytes);
  const { upstream, options, streaming, cancelled } = openUpstreamCall(context, target, request, reply);
  const encode = (frame: Buffer): Buffer | string => (contentType.text ? frame.toString("base64") : frame);

  if (!streaming) {
    let outcome;
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
 * Reads a request body, failing with RESOURCE_EXHAUSTED as soon as it passes
 * the limit. The stream is left alone rather than destroyed so the error can
 * still be sent; Node discards the unread rest of the body.
 */
function readBody(stream: Readable | undefined, limit: number): Promise<Buffer> {
  if (!stream) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanUp = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanUp();
        reject(new FramingError(GrpcStatus.RESOURCE_EXHAUSTED, `gRPC-Web request body is larger than the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanUp();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      cleanUp();
      reject(error);
    };
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onError);
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
