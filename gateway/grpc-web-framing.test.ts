import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import {
  decodeBase64Body,
  encodeGrpcMessage,
  encodeMessageFrame,
  encodeTrailerFrame,
  FramingError,
  parseGrpcWebContentType,
  readSingleMessage,
} from "./grpc-web-framing.js";

const framingError = (code: GrpcStatus, pattern: RegExp) => (error: unknown) =>
  error instanceof FramingError && error.code === code && pattern.test(error.message);

describe("gRPC-Web content types", () => {
  it("recognises binary and text variants, with or without +proto", () => {
    assert.deepEqual(parseGrpcWebContentType("application/grpc-web"), { text: false, responseType: "application/grpc-web+proto" });
    assert.deepEqual(parseGrpcWebContentType("application/grpc-web+proto"), { text: false, responseType: "application/grpc-web+proto" });
    assert.deepEqual(parseGrpcWebContentType("application/grpc-web-text"), { text: true, responseType: "application/grpc-web-text+proto" });
    assert.deepEqual(parseGrpcWebContentType("application/grpc-web-text+proto; charset=utf-8"), {
      text: true,
      responseType: "application/grpc-web-text+proto",
    });
  });

  it("leaves other types alone and refuses codecs it cannot pass through", () => {
    assert.equal(parseGrpcWebContentType("application/json"), undefined);
    assert.equal(parseGrpcWebContentType(undefined), undefined);
    assert.throws(() => parseGrpcWebContentType("application/grpc-web+json"), framingError(GrpcStatus.UNIMPLEMENTED, /codec "json"/));
  });
});

describe("gRPC-Web frames", () => {
  const message = Buffer.from("hello");

  it("round-trips one message frame", () => {
    assert.deepEqual(readSingleMessage(encodeMessageFrame(message), 100), message);
  });

  it("accepts an empty message (a request with every field at its default)", () => {
    assert.equal(readSingleMessage(encodeMessageFrame(Buffer.alloc(0)), 100).length, 0);
  });

  it("rejects a frame cut short in its header or its payload", () => {
    assert.throws(() => readSingleMessage(Buffer.from([0, 0, 0]), 100), framingError(GrpcStatus.INVALID_ARGUMENT, /truncated.*5-byte frame header/));
    assert.throws(
      () => readSingleMessage(encodeMessageFrame(message).subarray(0, 7), 100),
      framingError(GrpcStatus.INVALID_ARGUMENT, /announces 5 bytes, only 2 present/),
    );
  });

  it("rejects a message above the size limit from its header alone", () => {
    const header = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]);
    assert.throws(() => readSingleMessage(header, 1024), framingError(GrpcStatus.RESOURCE_EXHAUSTED, /larger than the limit of 1024/));
  });

  it("rejects compressed messages, trailer frames and more than one message", () => {
    const compressed = encodeMessageFrame(message);
    compressed[0] = 1;
    assert.throws(() => readSingleMessage(compressed, 100), framingError(GrpcStatus.UNIMPLEMENTED, /compressed/));
    assert.throws(() => readSingleMessage(encodeTrailerFrame(0, "", undefined), 100), framingError(GrpcStatus.INVALID_ARGUMENT, /trailer frame/));
    assert.throws(
      () => readSingleMessage(Buffer.concat([encodeMessageFrame(message), encodeMessageFrame(message)]), 100),
      framingError(GrpcStatus.INVALID_ARGUMENT, /exactly one message, got a second one/),
    );
    assert.throws(() => readSingleMessage(Buffer.alloc(0), 100), framingError(GrpcStatus.INVALID_ARGUMENT, /exactly one message, got none/));
  });

  it("writes the trailer frame as an HTTP/1 header block with flag 0x80", () => {
    const trailers = new Metadata();
    trailers.set("x-request-cost", "3");
    trailers.set("x-trace-bin", Buffer.from([1, 2, 3]));
    const frame = encodeTrailerFrame(GrpcStatus.NOT_FOUND, "item 7 does not exist", trailers);
    assert.equal(frame[0], 0x80);
    assert.equal(frame.readUInt32BE(1), frame.length - 5);
    assert.equal(frame.subarray(5).toString("latin1"), "grpc-status: 5\r\ngrpc-message: item 7 does not exist\r\nx-request-cost: 3\r\nx-trace-bin: AQID\r\n");
  });

  it("percent-encodes grpc-message outside printable ASCII", () => {
    assert.equal(encodeGrpcMessage("preço 100%\n"), "pre%C3%A7o 100%25%0A");
  });
});

describe("grpc-web-text bodies", () => {
  it("decodes base64, including chunks each padded on their own", () => {
    const first = encodeMessageFrame(Buffer.from("a"));
    const second = encodeMessageFrame(Buffer.from("bc"));
    const text = first.toString("base64") + second.toString("base64");
    assert.match(text, /=.+/, "the fixture has padding inside the body");
    assert.deepEqual(decodeBase64Body(text), Buffer.concat([first, second]));
  });

  it("rejects characters outside base64 and lengths that are not a multiple of 4", () => {
    assert.throws(() => decodeBase64Body("AAAA*AAA"), framingError(GrpcStatus.INVALID_ARGUMENT, /not valid base64 at character 4/));
    assert.throws(() => decodeBase64Body("AAAAA"), framingError(GrpcStatus.INVALID_ARGUMENT, /multiple of 4/));
    assert.throws(() => decodeBase64Body("A==="), framingError(GrpcStatus.INVALID_ARGUMENT, /not valid base64/));
  });
});
