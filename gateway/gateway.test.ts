// The assembled gateway: rate limits on the password and sign-up RPCs (on both
// the JSON and the gRPC-Web path), HTTP/2 for JSON clients, and shutdown.
import assert from "node:assert/strict";
import { connect as connectHttp2 } from "node:http2";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ErrorInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";
import { encodeMessageFrame } from "./grpc-web-framing.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
before(async () => {
  stack = await startTestStack({
    authRateLimit: { max: 2, windowMs: 60_000, methods: ["mel.identity.v1.IdentityService/Login", "mel.identity.v1.IdentityService/Register"] },
  });
});
after(async () => {
  await stack.close();
});

const login = () =>
  fetch(`${stack.url}/api/v1/identity/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "ana@example.com", password: "nope" }),
  });

describe("rate limits on login and register", () => {
  it("answer 429 RESOURCE_EXHAUSTED with Retry-After past the limit, on JSON and gRPC-Web alike", async () => {
    assert.equal((await login()).status, 401);
    assert.equal((await login()).status, 401);
    const limited = await login();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    const body = (await limited.json()) as { code: number; message: string };
    assert.equal(body.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(body.message, /too many Login attempts/);

    const grpcWeb = await fetch(`${stack.url}/mel.identity.v1.IdentityService/Login`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: encodeMessageFrame(Buffer.alloc(0)),
    });
    assert.equal(grpcWeb.headers.get("grpc-status"), String(GrpcStatus.RESOURCE_EXHAUSTED));
  });

  it("say RATE_LIMITED with a RetryInfo of the window's remaining time, in the JSON body and the gRPC-Web trailers", async () => {
    const limited = await login();
    assert.equal(limited.status, 429);
    const body = (await limited.json()) as { details: Array<Record<string, unknown>> };
    const retryAfter = Number(limited.headers.get("retry-after"));
    assert.deepEqual(body.details, [
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "RATE_LIMITED", domain: "mel.lojasmel.com" },
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retryAfter}s` },
    ]);

    const grpcWeb = await fetch(`${stack.url}/mel.identity.v1.IdentityService/Login`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: encodeMessageFrame(Buffer.alloc(0)),
    });
    const status = Status.decode(Buffer.from(grpcWeb.headers.get("grpc-status-details-bin") ?? "", "base64"));
    assert.deepEqual(
      status.details.map((any) => any.typeUrl),
      ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.RetryInfo"],
    );
    assert.equal(ErrorInfo.decode(status.details[0]!.value).reason, "RATE_LIMITED");
  });

  it("count each limited RPC on its own and leave other RPCs alone", async () => {
    const register = await fetch(`${stack.url}/api/v1/identity/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "bia@example.com" }),
    });
    assert.equal(register.status, 200);
    for (let attempt = 0; attempt < 5; attempt++) assert.equal((await fetch(`${stack.url}/api/v1/catalog/items/item-1`)).status, 200);
  });
});

describe("HTTP/2", () => {
  it("serves JSON routes to an HTTP/2 (h2c) client on the same port", async () => {
    const session = connectHttp2(stack.url);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = session.request({ ":path": "/api/v1/catalog/items/item-2", ":method": "GET" });
        let status = 0;
        let body = "";
        request.on("response", (headers) => (status = Number(headers[":status"])));
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => (body += chunk));
        request.on("end", () => resolve({ status, body }));
        request.on("error", reject);
      });
      assert.equal(status, 200);
      assert.equal((JSON.parse(body) as { item: { name: string } }).item.name, "Plate");
    } finally {
      session.close();
    }
  });
});

describe("upstream calls through the platform client", () => {
  const getItemPath = "/mel.catalog.v1.CatalogService/GetItem";
  const adjustStockPath = "/mel.catalog.v1.CatalogService/AdjustStock";

  it("retry an RPC bound to GET when the upstream answers UNAVAILABLE", async () => {
    const before = stack.upstreams.count(getItemPath);
    const response = await fetch(`${stack.url}/api/v1/catalog/items/flaky-get`);
    assert.equal(response.status, 200);
    assert.equal(stack.upstreams.count(getItemPath) - before, 2);
  });

  it("do not retry an RPC with side effects", async () => {
    const before = stack.upstreams.count(adjustStockPath);
    const response = await fetch(`${stack.url}/api/v1/catalog/items/flaky-post:adjustStock`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"delta": 1}',
    });
    assert.equal(response.status, 503);
    assert.equal(stack.upstreams.count(adjustStockPath) - before, 1);
  });

  it("fail fast once the upstream's circuit is open", async () => {
    const own = await startTestStack();
    try {
      for (let attempt = 0; attempt < 5; attempt++) assert.equal((await fetch(`${own.url}/api/v1/catalog/items/status-INTERNAL`)).status, 500);
      const reached = own.upstreams.count(getItemPath);
      const response = await fetch(`${own.url}/api/v1/catalog/items/item-1`);
      assert.equal(response.status, 503);
      assert.equal(own.upstreams.count(getItemPath), reached, "the call never left the gateway");
    } finally {
      await own.close();
    }
  });
});

describe("shutdown", () => {
  it("stops accepting connections once closed", async () => {
    const other = await startTestStack();
    const url = other.url;
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await other.close();
    await assert.rejects(fetch(`${url}/healthz`), (error: unknown) => (error as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED");
  });
});
