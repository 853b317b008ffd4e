import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLocalJWKSet } from "jose";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
before(async () => {
  stack = await startTestStack();
});
after(async () => {
  await stack.close();
});

describe("/healthz", () => {
  it("answers while the process is up, whatever the upstreams do", async () => {
    stack.upstreams.health.setStatus("", "NOT_SERVING");
    try {
      const response = await fetch(`${stack.url}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: "ok" });
    } finally {
      stack.upstreams.health.setStatus("", "SERVING");
    }
  });
});

describe("/readyz", () => {
  it("is 200 when every upstream reports SERVING over grpc.health.v1", async () => {
    const response = await fetch(`${stack.url}/readyz`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { status: string; upstreams: Record<string, string> };
    assert.equal(body.status, "ready");
    assert.equal(body.upstreams["mel.catalog.v1.CatalogService"], "SERVING");
  });

  it("is 503 naming the upstream that is not serving", async () => {
    stack.upstreams.health.setStatus("mel.catalog.v1.CatalogService", "NOT_SERVING");
    try {
      const response = await fetch(`${stack.url}/readyz`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { upstreams: Record<string, string> };
      assert.equal(body.upstreams["mel.catalog.v1.CatalogService"], "NOT_SERVING");
      assert.equal(body.upstreams["mel.identity.v1.IdentityService"], "SERVING");
    } finally {
      stack.upstreams.health.setStatus("mel.catalog.v1.CatalogService", "SERVING");
    }
  });

  it("is 503 when an upstream cannot be reached", async () => {
    const partial = await startTestStack({ upstreams: { "mel.catalog.v1.CatalogService": "127.0.0.1:1" } });
    try {
      const response = await fetch(`${partial.url}/readyz`);
      assert.equal(response.status, 503);
      assert.deepEqual(((await response.json()) as { upstreams: unknown }).upstreams, { "mel.catalog.v1.CatalogService": "UNREACHABLE" });
    } finally {
      await partial.close();
    }
  });
});

describe("/.well-known/jwks.json", () => {
  it("serves identity's keys as a standard JWK Set, without empty members", async () => {
    const response = await fetch(`${stack.url}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    const jwks = (await response.json()) as { keys: Array<Record<string, string>> };
    assert.deepEqual(Object.keys(jwks.keys[0]!).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    // A JOSE library accepts it as a key set and finds the key by kid.
    const keySet = createLocalJWKSet(jwks as never);
    const key = await keySet({ alg: "ES256", kid: "key-1" });
    assert.equal((key as { type: string }).type, "public");
    assert.equal(stack.upstreams.lastCall("/mel.identity.v1.IdentityService/GetJwks")?.path, "/mel.identity.v1.IdentityService/GetJwks");
  });

  it("is 503 with a status body when identity is unreachable", async () => {
    const partial = await startTestStack({ upstreams: { "mel.identity.v1.IdentityService": "127.0.0.1:1" } });
    try {
      const response = await fetch(`${partial.url}/.well-known/jwks.json`);
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { code: number }).code, 14);
    } finally {
      await partial.close();
    }
  });
});
