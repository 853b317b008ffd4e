// gRPC status → HTTP status over real HTTP, for every code an upstream can
// answer with, and the google.rpc.Status JSON body of every error.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { httpStatusFromGrpc } from "./http-status.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
before(async () => {
  stack = await startTestStack();
});
after(async () => {
  await stack.close();
});

// As grpc-gateway's runtime.HTTPStatusFromCode.
const expected: Array<[keyof typeof GrpcStatus, number]> = [
  ["CANCELLED", 499],
  ["UNKNOWN", 500],
  ["INVALID_ARGUMENT", 400],
  ["DEADLINE_EXCEEDED", 504],
  ["NOT_FOUND", 404],
  ["ALREADY_EXISTS", 409],
  ["PERMISSION_DENIED", 403],
  ["RESOURCE_EXHAUSTED", 429],
  ["FAILED_PRECONDITION", 400],
  ["ABORTED", 409],
  ["OUT_OF_RANGE", 400],
  ["UNIMPLEMENTED", 501],
  ["INTERNAL", 500],
  ["UNAVAILABLE", 503],
  ["DATA_LOSS", 500],
  ["UNAUTHENTICATED", 401],
];

describe("upstream statuses over HTTP", () => {
  for (const [name, httpStatus] of expected) {
    it(`${name} → ${httpStatus} with a google.rpc.Status body`, async () => {
      const response = await fetch(`${stack.url}/api/v1/catalog/items/status-${name}`);
      assert.equal(response.status, httpStatus);
      assert.match(response.headers.get("content-type")!, /^application\/json/);
      const body = (await response.json()) as { code: number; message: string; details: unknown[] };
      assert.equal(body.code, GrpcStatus[name]);
      // grpc-js's own messages for these two carry internal addresses, so the gateway words them.
      const message =
        name === "UNAVAILABLE"
          ? "CatalogService is unavailable; retry shortly"
          : name === "DEADLINE_EXCEEDED"
            ? "CatalogService did not answer before the deadline"
            : `forced ${name}`;
      assert.equal(body.message, message);
      assert.ok(Array.isArray(body.details));
    });
  }

  it("renders typed details from grpc-status-details-bin as proto3 JSON Any", async () => {
    const body = (await (await fetch(`${stack.url}/api/v1/catalog/items/status-FAILED_PRECONDITION`)).json()) as { details: unknown[] };
    assert.deepEqual(body.details, [{ "@type": "type.googleapis.com/mel.common.v1.Money", currencyCode: "BRL", amountMinor: "5" }]);
  });

  it("asks for a bearer token on 401", async () => {
    const response = await fetch(`${stack.url}/api/v1/identity/me`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
  });

  it("maps an unreachable upstream to 503", async () => {
    const unreachable = await startTestStack({ upstreams: { "mel.catalog.v1.CatalogService": "127.0.0.1:1" } });
    try {
      const response = await fetch(`${unreachable.url}/api/v1/catalog/items/item-1`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { code: number; message: string };
      assert.equal(body.code, GrpcStatus.UNAVAILABLE);
      assert.doesNotMatch(body.message, /127\.0\.0\.1/, "internal addresses stay inside");
    } finally {
      await unreachable.close();
    }
  });

  it("maps an upstream that outlives the client's grpc-timeout to 504", async () => {
    const response = await fetch(`${stack.url}/api/v1/catalog/items/slow`, { headers: { "grpc-timeout": "100m" } });
    assert.equal(response.status, 504);
    assert.equal(((await response.json()) as { code: number }).code, GrpcStatus.DEADLINE_EXCEEDED);
  });

  it("maps a code it does not know to 500", () => {
    assert.equal(httpStatusFromGrpc(99), 500);
  });
});

describe("the gateway's own errors are JSON too", () => {
  async function error(path: string, init: RequestInit = {}) {
    const response = await fetch(stack.url + path, init);
    assert.match(response.headers.get("content-type")!, /^application\/json/);
    return { status: response.status, headers: response.headers, body: (await response.json()) as { code: number; message: string; details: unknown[] } };
  }

  it("404 for a path no route matches", async () => {
    const { status, body } = await error("/api/v1/nothing-here");
    assert.equal(status, 404);
    assert.equal(body.code, GrpcStatus.NOT_FOUND);
    assert.match(body.message, /no route for GET \/api\/v1\/nothing-here/);
  });

  it("405 with Allow for a known path and another method", async () => {
    const { status, headers, body } = await error("/api/v1/catalog/items:batchGet", { method: "DELETE" });
    assert.equal(status, 405);
    assert.equal(headers.get("allow"), "GET, POST");
    assert.equal(body.code, GrpcStatus.UNIMPLEMENTED);
  });

  it("405 also for methods the gateway never routes", async () => {
    const { status, headers } = await error("/api/v1/catalog/items", { method: "PROPFIND" });
    assert.equal(status, 405);
    assert.equal(headers.get("allow"), "GET, POST");
  });

  it("415 for a body type that is not JSON", async () => {
    const { status, body } = await error("/api/v1/identity/login", { method: "POST", headers: { "content-type": "application/xml" }, body: "<login/>" });
    assert.equal(status, 415);
    assert.equal(body.code, GrpcStatus.INVALID_ARGUMENT);
  });
});
