// Hostile and broken input: every case gets a clean 4xx or gRPC status, and
// the gateway goes on serving (each test ends with a request that succeeds).
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, afterEach, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { encodeMessageFrame } from "./grpc-web-framing.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

const maxMessageBytes = 1024;
const bodyLimitBytes = 2048;
let stack: TestStack;
before(async () => {
  stack = await startTestStack({ grpcWebMaxMessageBytes: maxMessageBytes, bodyLimitBytes });
});
after(async () => {
  await stack.close();
});
afterEach(async () => {
  const response = await fetch(`${stack.url}/api/v1/catalog/items/item-1`);
  assert.equal(response.status, 200, "the gateway still serves after the bad request");
  await response.arrayBuffer();
});

async function jsonError(path: string, init: RequestInit): Promise<{ status: number; body: { code: number; message: string } }> {
  const response = await fetch(stack.url + path, init);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return { status: response.status, body: (await response.json()) as { code: number; message: string } };
}

const postJson = (body: string): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body });

describe("bad HTTP/JSON requests", () => {
  it("malformed JSON → 400 INVALID_ARGUMENT", async () => {
    const { status, body } = await jsonError("/api/v1/identity/login", postJson('{"email": "ana@'));
    assert.equal(status, 400);
    assert.equal(body.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(body.message, /not valid JSON/);
  });

  it("a wrong type → 400 naming the field", async () => {
    const { status, body } = await jsonError("/v1/probe/p1", postJson('{"filter": {"minSize": "three"}}'));
    assert.equal(status, 400);
    assert.match(body.message, /"filter\.minSize"/);
  });

  it("an int64 that is not a number → 400 naming the field", async () => {
    const { body } = await jsonError("/api/v1/catalog/items", postJson('{"price": {"amountMinor": "12.5"}}'));
    assert.match(body.message, /price\.amountMinor/);
  });

  it("integers not written in decimal → 400 naming the field", async () => {
    for (const written of ["0x10", "0b11", "1e3", "1.0", " 12", "+5"]) {
      const body = await jsonError("/api/v1/catalog/items", postJson(JSON.stringify({ price: { amountMinor: written } })));
      assert.equal(body.status, 400, `amountMinor ${JSON.stringify(written)}`);
      assert.equal(
        body.body.message,
        `invalid value for field "item.price.amountMinor": ${JSON.stringify(written)} is not a decimal integer (write it like 42 or "42")`,
      );
      const query = await jsonError(`/api/v1/catalog/items?pageSize=${encodeURIComponent(written)}`, {});
      assert.equal(query.status, 400, `pageSize ${JSON.stringify(written)}`);
      assert.match(query.body.message, /^invalid value for field "pageSize": .* is not a decimal integer/);
    }
  });

  it("an int64 past 2^53 as a JSON number → 400 naming the field", async () => {
    const { status, body } = await jsonError("/api/v1/catalog/items", postJson('{"price": {"amountMinor": 9007199254740993}}'));
    assert.equal(status, 400);
    assert.equal(body.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(
      body.message,
      /^invalid value for field "item\.price\.amountMinor": this JSON number is outside the integers this API can hold \(-9007199254740991 to 9007199254740991\)$/,
    );
  });

  it("an unknown enum name → 400 listing the valid names", async () => {
    const { body } = await jsonError("/v1/probe/p1", postJson('{"color": "PURPLE"}'));
    assert.match(body.message, /"color".*COLOR_UNSPECIFIED, COLOR_RED, COLOR_GREEN/);
  });

  it("a bad timestamp → 400 naming the field", async () => {
    const { body } = await jsonError("/v1/probe/p1", postJson('{"at": "yesterday"}'));
    assert.match(body.message, /"at".*RFC 3339/);
  });

  it("an unknown field → 400 naming it", async () => {
    const { status, body } = await jsonError("/api/v1/identity/register", postJson('{"email": "a@b.c", "isAdmin": true}'));
    assert.equal(status, 400);
    assert.match(body.message, /unknown field "isAdmin"/);
  });

  it('a body that is not an object for body "*" → 400', async () => {
    const { status, body } = await jsonError("/api/v1/identity/login", postJson("[1, 2]"));
    assert.equal(status, 400);
    assert.match(body.message, /must be a JSON object/);
  });

  it("a body on a route that takes none → 400", async () => {
    const { status } = await jsonError("/api/v1/catalog/items/item-1", {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: '{"id": "x"}',
    });
    assert.equal(status, 400);
  });

  it("an unknown query parameter → 400 naming it", async () => {
    const { status, body } = await jsonError("/api/v1/catalog/items?pageSise=3", {});
    assert.equal(status, 400);
    assert.match(body.message, /unknown query parameter "pageSise"/);
  });

  it("query values of the wrong type → 400 naming the parameter", async () => {
    assert.match((await jsonError("/v1/probe/p1?flag=maybe", {})).body.message, /query parameter "flag".*not a boolean/);
    assert.match((await jsonError("/api/v1/catalog/items?pageSize=lots", {})).body.message, /"pageSize"/);
    assert.match((await jsonError("/v1/probe/p1?note=a&note=b", {})).body.message, /given 2 times/);
    assert.match((await jsonError("/v1/probe/p1?filter=x", {})).body.message, /set its fields one by one/);
  });

  it('query parameters on a body "*" route → 400', async () => {
    const { status } = await jsonError("/api/v1/identity/login?email=a@b.c", postJson("{}"));
    assert.equal(status, 400);
  });

  it("an oversize body → 413 RESOURCE_EXHAUSTED", async () => {
    const { status, body } = await jsonError("/api/v1/identity/register", postJson(JSON.stringify({ displayName: "x".repeat(bodyLimitBytes) })));
    assert.equal(status, 413);
    assert.equal(body.code, GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it("bad percent-encoding in the path → 400", async () => {
    const { status } = await jsonError("/api/v1/catalog/items/%E0%A4%A", {});
    assert.equal(status, 400);
  });

  it("an unknown route → 404", async () => {
    const { status } = await jsonError("/admin/../../etc/passwd", {});
    assert.equal(status, 404);
  });

  it("a bad grpc-timeout header → 400", async () => {
    const { status, body } = await jsonError("/api/v1/catalog/items/item-1", { headers: { "grpc-timeout": "soon" } });
    assert.equal(status, 400);
    assert.match(body.message, /grpc-timeout/);
  });
});

describe("bad gRPC-Web requests", () => {
  const getItem = `/mel.catalog.v1.CatalogService/GetItem`;
  async function grpcStatusOf(body: Buffer | string, contentType = "application/grpc-web+proto"): Promise<{ status: string | null; message: string | null }> {
    const response = await fetch(stack.url + getItem, { method: "POST", headers: { "content-type": contentType }, body });
    assert.equal(response.status, 200, "gRPC errors travel in grpc-status, not the HTTP status");
    await response.arrayBuffer();
    return { status: response.headers.get("grpc-status"), message: response.headers.get("grpc-message") };
  }

  it("a truncated frame → INVALID_ARGUMENT", async () => {
    const truncated = encodeMessageFrame(Buffer.from([0x0a, 6, ...Buffer.from("item-1")])).subarray(0, 9);
    const { status, message } = await grpcStatusOf(truncated);
    assert.equal(status, String(GrpcStatus.INVALID_ARGUMENT));
    assert.match(message!, /truncated/);
  });

  it("a frame header announcing an oversize message → RESOURCE_EXHAUSTED", async () => {
    const header = Buffer.from([0, 0, 0x10, 0, 0]); // 1 MiB announced, limit 1 KiB
    assert.equal((await grpcStatusOf(header)).status, String(GrpcStatus.RESOURCE_EXHAUSTED));
  });

  it("a body larger than the limit → RESOURCE_EXHAUSTED", async () => {
    const big = encodeMessageFrame(Buffer.alloc(maxMessageBytes * 8, 1));
    assert.equal((await grpcStatusOf(big)).status, String(GrpcStatus.RESOURCE_EXHAUSTED));
  });

  it("bad base64 in grpc-web-text → INVALID_ARGUMENT", async () => {
    const { status, message } = await grpcStatusOf("AAAA!!!!", "application/grpc-web-text");
    assert.equal(status, String(GrpcStatus.INVALID_ARGUMENT));
    assert.match(message!, /base64/);
  });

  it("a gRPC-Web content type on a method other than POST → 405", async () => {
    const response = await fetch(stack.url + getItem, {
      method: "PUT",
      headers: { "content-type": "application/grpc-web+proto" },
      body: encodeMessageFrame(Buffer.alloc(0)),
    });
    assert.equal(response.status, 405);
    assert.equal(((await response.json()) as { code: number }).code, GrpcStatus.UNIMPLEMENTED);
  });

  it("an empty body → INVALID_ARGUMENT", async () => {
    assert.equal((await grpcStatusOf(Buffer.alloc(0))).status, String(GrpcStatus.INVALID_ARGUMENT));
  });

  it("a frame whose bytes are not the request message → the upstream's error, passed through", async () => {
    const garbage = encodeMessageFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    const { status } = await grpcStatusOf(garbage);
    assert.ok(status !== null && status !== "0", `grpc-status ${status}`);
  });
});

describe("bad connections", () => {
  it("bytes that are not HTTP at all close that connection only", { timeout: 5000 }, async () => {
    const address = new URL(stack.url);
    await new Promise<void>((resolve) => {
      const socket = connect({ host: address.hostname, port: Number(address.port) }, () => socket.write("\x00\x01\x02 not http\r\n\r\n"));
      socket.on("data", () => {});
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });
  });

  it("a truncated HTTP/2 preface closes that connection only", { timeout: 5000 }, async () => {
    const address = new URL(stack.url);
    await new Promise<void>((resolve) => {
      const socket = connect({ host: address.hostname, port: Number(address.port) }, () => socket.end("PRI * HTTP/2.0\r\n"));
      socket.on("data", () => {});
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });
  });
});
