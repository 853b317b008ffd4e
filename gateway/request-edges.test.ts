// Requests at the edges of HTTP: a gRPC-Web body that is bad from its second
// frame on, a client that goes away while uploading, and requests Node's HTTP
// parser or fastify's router reject before any route runs. Each is answered
// (or logged) the gateway's way.
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { type CapturedLog, captureLog } from "../platform/grpc/grpc.test-support.js";
import { waitUntil } from "../test/support/wait.js";
import { encodeMessageFrame } from "./grpc-web-framing.js";
import { startTestStack, type TestStack } from "./testing/test-stack.js";

let stack: TestStack;
let log: CapturedLog;
before(async () => {
  log = captureLog("gateway");
  stack = await startTestStack({}, { logger: log.logger });
});
after(async () => {
  await stack.close();
});

const getItem = "/mel.catalog.v1.CatalogService/GetItem";

/** Opens a POST whose body is written but not ended; the caller ends or destroys it. */
function openUpload(path: string, contentType: string, first: Buffer, contentLength?: number) {
  const url = new URL(stack.url);
  const headers: Record<string, string | number> = { "content-type": contentType };
  if (contentLength !== undefined) headers["content-length"] = contentLength;
  const upload = httpRequest({ host: url.hostname, port: url.port, path, method: "POST", headers });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    upload.once("response", resolve);
    upload.once("error", reject);
  });
  upload.write(first);
  return { upload, response };
}

/** Sends raw bytes and returns everything the gateway answers before it closes the connection. */
function exchange(bytes: string): Promise<{ statusLine: string; contentType: string | undefined; body: unknown }> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: url.hostname, port: Number(url.port) }, () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const [head = "", body = ""] = text.split("\r\n\r\n", 2);
      const [statusLine = "", ...headerLines] = head.split("\r\n");
      const contentType = headerLines.find((line) => /^content-type:/i.test(line))?.replace(/^content-type:\s*/i, "");
      try {
        resolve({ statusLine, contentType, body: JSON.parse(body) });
      } catch {
        reject(new Error(`not a JSON answer: ${text}`));
      }
    });
  });
}

describe("gRPC-Web bodies", () => {
  it("a body of zero-length frames is rejected at its second frame, while the client is still sending", { timeout: 10_000 }, async () => {
    const { upload, response } = openUpload(
      getItem,
      "application/grpc-web+proto",
      Buffer.concat([encodeMessageFrame(Buffer.alloc(0)), encodeMessageFrame(Buffer.alloc(0))]),
    );
    const answer = await response;
    await new Promise((resolve) => answer.resume().once("end", resolve));
    assert.equal(upload.writableEnded, false, "the answer came before the body was complete");
    upload.destroy();
    assert.equal(answer.headers["grpc-status"], String(GrpcStatus.INVALID_ARGUMENT));
    assert.equal(answer.headers["grpc-message"], "a unary or server-streaming gRPC-Web request carries exactly one message, got a second one");
  });
});

describe("a client that goes away mid-upload", () => {
  const abortMessage = "client aborted the request before it was read";

  /** The gateway's log lines about one request whose client disconnects after sending `first`. */
  async function abortMidUpload(path: string, contentType: string, first: Buffer, contentLength: number): Promise<Record<string, unknown>[]> {
    const from = log.lines.length;
    const linesOfThis = () => log.lines.slice(from);
    // The gateway's HTTP server has parsed the request head once it emits "request".
    const received = new Promise<void>((resolve) => stack.gateway.app.server.once("request", () => resolve()));
    const { upload, response } = openUpload(path, contentType, first, contentLength);
    response.catch(() => {}); // the connection is cut below: there is no response
    await received;
    upload.destroy();
    await waitUntil("the abort to be logged", () => linesOfThis().some((line) => line.msg === abortMessage));
    return linesOfThis();
  }

  function assertLoggedAsClientAbort(lines: Record<string, unknown>[]): void {
    const abort = lines.find((line) => line.msg === abortMessage);
    assert.equal(abort?.level, "info");
    assert.equal(abort?.err, undefined);
    assert.deepEqual(
      lines.filter((line) => line.err !== undefined || line.level === "error"),
      [],
      "no error and no stack is logged",
    );
  }

  it("on the gRPC-Web path is logged at info as a client abort, without an error or stack", async () => {
    assertLoggedAsClientAbort(await abortMidUpload(getItem, "application/grpc-web+proto", Buffer.from([0, 0, 0, 0, 100, 1, 2]), 105));
  });

  it("on the HTTP/JSON path is logged at info as a client abort, without an error or stack", async () => {
    assertLoggedAsClientAbort(await abortMidUpload("/api/v1/identity/login", "application/json", Buffer.from('{"email": "ana@'), 200));
  });
});

describe("requests refused before routing answer in the gateway's format", () => {
  it("headers past the size limit → 431 RESOURCE_EXHAUSTED", async () => {
    const { statusLine, contentType, body } = await exchange(`GET /api/v1/catalog/items HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    assert.equal(statusLine, "HTTP/1.1 431 Request Header Fields Too Large");
    assert.match(contentType ?? "", /^application\/json/);
    assert.deepEqual(body, { code: GrpcStatus.RESOURCE_EXHAUSTED, message: "the request headers are larger than the limit", details: [] });
  });

  it("a malformed header line → 400 INVALID_ARGUMENT", async () => {
    const { statusLine, body } = await exchange("GET /api/v1/catalog/items HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    assert.equal(statusLine, "HTTP/1.1 400 Bad Request");
    assert.deepEqual(body, { code: GrpcStatus.INVALID_ARGUMENT, message: "malformed HTTP request (HPE_INVALID_HEADER_TOKEN)", details: [] });
  });

  it("bad percent-encoding in the path → 400 INVALID_ARGUMENT", async () => {
    const { statusLine, body } = await exchange("GET /api/v1/catalog/items/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.equal(statusLine, "HTTP/1.1 400 Bad Request");
    assert.deepEqual(body, { code: GrpcStatus.INVALID_ARGUMENT, message: "'/api/v1/catalog/items/%E0%A4%A' is not a valid url component", details: [] });
  });
});
