// gRPC-Web wire format (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md):
// length-prefixed frames (1 flag byte, 4-byte big-endian length, payload),
// flag 0x80 marking the trailer frame, whose payload is an HTTP/1 header block;
// the -text variants carry the same bytes base64-encoded.
//
// Written by hand: no maintained Node library proxies gRPC-Web to gRPC (the
// official route is Envoy's filter; @connectrpc/connect-node serves gRPC-Web
// only for handlers in the same process), and the format is this small.

import type { Metadata } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";

export const frameHeaderBytes = 5;
const trailerFlag = 0x80;
const compressedFlag = 0x01;

export class FramingError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
    this.name = "FramingError";
  }
}

export interface GrpcWebContentType {
  text: boolean;
  /** The content type to answer with. */
  responseType: string;
}

/**
 * Recognises gRPC-Web request content types. Returns undefined for anything
 * that is not gRPC-Web and throws for gRPC-Web with a codec other than proto:
 * messages pass through undecoded, so only the binary proto codec works.
 */
export function parseGrpcWebContentType(contentType: string | undefined): GrpcWebContentType | undefined {
  if (!contentType) return undefined;
  const match = /^application\/grpc-web(-text)?(?:\+([a-z0-9.-]+))?\s*(?:;.*)?$/i.exec(contentType.trim());
  if (!match) return undefined;
  const codec = match[2]?.toLowerCase();
  if (codec !== undefined && codec !== "proto") {
    throw new FramingError(
      GrpcStatus.UNIMPLEMENTED,
      `gRPC-Web codec "${codec}" is not supported; send application/grpc-web+proto or application/grpc-web-text+proto`,
    );
  }
  const text = match[1] !== undefined;
  return { text, responseType: text ? "application/grpc-web-text+proto" : "application/grpc-web+proto" };
}

const base64Quantum = /^[A-Za-z0-9+/]{2}(?:==|[A-Za-z0-9+/]=|[A-Za-z0-9+/]{2})$/;

/**
 * Decodes a grpc-web-text body piece by piece as it arrives. Senders may
 * base64-encode each chunk on its own, so padding can appear inside the body:
 * it is decoded quantum by quantum. Node's Buffer.from(…, "base64") skips
 * invalid characters silently, hence the strict check first.
 */
export class Base64BodyDecoder {
  // Characters of an incomplete quantum, waiting for the rest.
  #carry = "";
  #position = 0;

  /** The bytes of every complete quantum so far; throws FramingError at the first invalid one. */
  push(text: string): Buffer {
    const compact = this.#carry + text.replace(/[\r\n\t ]/g, "");
    const complete = compact.length - (compact.length % 4);
    this.#carry = compact.slice(complete);
    const pieces: Buffer[] = [];
    let runStart = 0;
    for (let index = 0; index < complete; index += 4) {
      const quantum = compact.slice(index, index + 4);
      if (!base64Quantum.test(quantum)) {
        throw new FramingError(GrpcStatus.INVALID_ARGUMENT, `grpc-web-text body is not valid base64 at character ${this.#position + index}`);
      }
      if (quantum.endsWith("=")) {
        pieces.push(Buffer.from(compact.slice(runStart, index + 4), "base64"));
        runStart = index + 4;
      }
    }
    if (runStart < complete) pieces.push(Buffer.from(compact.slice(runStart, complete), "base64"));
    this.#position += complete;
    const [only] = pieces;
    return pieces.length === 1 && only !== undefined ? only : Buffer.concat(pieces);
  }

  /** Throws FramingError when the body ended inside a quantum. */
  end(): void {
    if (this.#carry !== "") throw new FramingError(GrpcStatus.INVALID_ARGUMENT, "grpc-web-text body is not valid base64: its length is not a multiple of 4");
  }
}

/** Decodes a whole grpc-web-text body (see Base64BodyDecoder). */
export function decodeBase64Body(text: string): Buffer {
  const decoder = new Base64BodyDecoder();
  const bytes = decoder.push(text);
  decoder.end();
  return bytes;
}

/**
 * Reads the one message frame of a unary or server-streaming request as the
 * body arrives, so a bad body fails at its first bad frame rather than once it
 * has all been read: a frame header announcing more than the limit, a trailer
 * or compressed frame (browsers never compress), or any second frame. Each
 * failure is a FramingError with the gRPC status to answer with.
 */
export class SingleMessageReader {
  readonly #maxMessageBytes: number;
  #header = Buffer.alloc(0);
  #length = -1;
  #payload: Buffer[] = [];
  #payloadBytes = 0;
  // Bytes after the first frame: the start of a second frame, or a truncated one.
  #extra = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#length < 0) {
        const needed = frameHeaderBytes - this.#header.length;
        this.#header = Buffer.concat([this.#header, chunk.subarray(offset, offset + needed)]);
        offset += Math.min(needed, chunk.length - offset);
        if (this.#header.length === frameHeaderBytes) this.#readHeader();
      } else if (this.#payloadBytes < this.#length) {
        const piece = chunk.subarray(offset, offset + this.#length - this.#payloadBytes);
        this.#payload.push(piece);
        this.#payloadBytes += piece.length;
        offset += piece.length;
      } else {
        this.#extra += chunk.length - offset;
        if (this.#extra >= frameHeaderBytes) throw secondMessage();
        return;
      }
    }
  }

  /** The message, once the body has ended; throws FramingError for a body without exactly one whole frame. */
  end(): Buffer {
    if (this.#length < 0) {
      if (this.#header.length === 0) throw new FramingError(GrpcStatus.INVALID_ARGUMENT, `${exactlyOne}, got none`);
      throw truncatedHeader(this.#header.length);
    }
    if (this.#payloadBytes < this.#length) {
      throw new FramingError(
        GrpcStatus.INVALID_ARGUMENT,
        `truncated gRPC-Web frame: header announces ${this.#length} bytes, only ${this.#payloadBytes} present`,
      );
    }
    if (this.#extra > 0) throw truncatedHeader(this.#extra);
    const [only] = this.#payload;
    return this.#payload.length === 1 && only !== undefined ? only : Buffer.concat(this.#payload);
  }

  #readHeader(): void {
    const flags = this.#header.readUInt8(0);
    const length = this.#header.readUInt32BE(1);
    if (length > this.#maxMessageBytes) {
      throw new FramingError(GrpcStatus.RESOURCE_EXHAUSTED, `gRPC-Web message of ${length} bytes is larger than the limit of ${this.#maxMessageBytes} bytes`);
    }
    if (flags & trailerFlag) throw new FramingError(GrpcStatus.INVALID_ARGUMENT, "a gRPC-Web request cannot contain a trailer frame");
    if (flags & compressedFlag) throw new FramingError(GrpcStatus.UNIMPLEMENTED, "compressed gRPC-Web messages are not supported; send them uncompressed");
    this.#length = length;
  }
}

const exactlyOne = "a unary or server-streaming gRPC-Web request carries exactly one message";
const secondMessage = () => new FramingError(GrpcStatus.INVALID_ARGUMENT, `${exactlyOne}, got a second one`);
const truncatedHeader = (bytes: number) =>
  new FramingError(GrpcStatus.INVALID_ARGUMENT, `truncated gRPC-Web frame: ${bytes} bytes where a 5-byte frame header was expected`);

/** The one message of a whole request body (see SingleMessageReader). */
export function readSingleMessage(body: Buffer, maxMessageBytes: number): Buffer {
  const reader = new SingleMessageReader(maxMessageBytes);
  reader.push(body);
  return reader.end();
}

export function encodeMessageFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, frameHeaderBytes);
  return frame;
}

/** The final frame: grpc-status, grpc-message and the upstream's trailing metadata. */
export function encodeTrailerFrame(code: number, message: string, trailers: Metadata | undefined): Buffer {
  const lines = [`grpc-status: ${code}`];
  if (message !== "") lines.push(`grpc-message: ${encodeGrpcMessage(message)}`);
  for (const [name, value] of metadataEntries(trailers)) lines.push(`${name}: ${value}`);
  const block = Buffer.from(`${lines.join("\r\n")}\r\n`, "latin1");
  const frame = Buffer.allocUnsafe(frameHeaderBytes + block.length);
  frame[0] = trailerFlag;
  frame.writeUInt32BE(block.length, 1);
  block.copy(frame, frameHeaderBytes);
  return frame;
}

// Headers that describe the upstream HTTP/2 exchange, not the application.
const reservedNames = new Set([
  "content-type",
  "content-length",
  "te",
  "trailer",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "user-agent",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
]);

/** Custom metadata as header name/value pairs; -bin values base64-encoded as on the gRPC wire. */
export function metadataEntries(metadata: Metadata | undefined): Array<[string, string]> {
  if (!metadata) return [];
  const entries: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(metadata.toJSON())) {
    if (reservedNames.has(name) || name.startsWith(":")) continue;
    for (const value of values) {
      const text = Buffer.isBuffer(value) ? value.toString("base64") : String(value);
      // A value that could break the header block (CR/LF) is not forwarded.
      if (!/[\r\n]/.test(text)) entries.push([name, text]);
    }
  }
  return entries;
}

// grpc-message is percent-encoded: bytes outside printable ASCII, and "%" itself.
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
