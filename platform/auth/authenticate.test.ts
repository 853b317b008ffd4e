import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { UnauthenticatedError } from "../errors/index.js";
import { createTestSigningKey, jwksOf, signTestToken, testAudience, testIssuer } from "./auth.test-support.js";
import { bearerToken, createAuthenticate } from "./authenticate.js";
import { createCachedKeySet } from "./key-set.js";
import { createTokenVerifier } from "./token-verifier.js";

const key = await createTestSigningKey();
const authenticate = createAuthenticate(createTokenVerifier({ keys: createCachedKeySet(async () => jwksOf(key)), issuer: testIssuer, audience: testAudience }));

function metadataWith(authorization?: string): Metadata {
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set("authorization", authorization);
  return metadata;
}

describe("authenticate", () => {
  it("gives the principal of a valid bearer token", async () => {
    const principal = await authenticate(metadataWith(`Bearer ${await signTestToken(key, { claims: { roles: ["admin"] } })}`), "authenticated");
    assert.deepEqual(principal?.roles, ["admin"]);
  });

  it("accepts the scheme in any case", async () => {
    assert.ok(await authenticate(metadataWith(`bearer ${await signTestToken(key)}`), "authenticated"));
  });

  it("gives undefined without an authorization entry, leaving the policy decision to implementService", async () => {
    assert.equal(await authenticate(metadataWith(), "authenticated"), undefined);
    assert.equal(await authenticate(metadataWith(), "public"), undefined);
  });

  it("refuses a bad token on a protected method with UNAUTHENTICATED", async () => {
    const expired = await signTestToken(key, { issuedAt: -600, notBefore: -600, expiresIn: -300 });
    await assert.rejects(
      authenticate(metadataWith(`Bearer ${expired}`), "authenticated"),
      (error: unknown) => error instanceof UnauthenticatedError && /expired/.test(error.message),
    );
    await assert.rejects(authenticate(metadataWith(`Bearer ${expired}`), { role: "admin" }), UnauthenticatedError);
  });

  it("treats a bad token on a public method as anonymous, so a stale token cannot block Login or Refresh", async () => {
    const expired = await signTestToken(key, { issuedAt: -600, notBefore: -600, expiresIn: -300 });
    assert.equal(await authenticate(metadataWith(`Bearer ${expired}`), "public"), undefined);
    assert.equal(await authenticate(metadataWith("Basic dXNlcjpwYXNz"), "public"), undefined);
  });

  it("refuses authorization values that are not a bearer token", () => {
    assert.throws(() => bearerToken(metadataWith("Basic dXNlcjpwYXNz")), /Bearer <access token>/);
    assert.throws(() => bearerToken(metadataWith("Bearer")), /Bearer <access token>/);
    assert.throws(() => bearerToken(metadataWith("Bearer a b")), /Bearer <access token>/);
    const twice = metadataWith("Bearer a");
    twice.add("authorization", "Bearer b");
    assert.throws(() => bearerToken(twice), /exactly one/);
    assert.equal(bearerToken(metadataWith("Bearer abc.def.ghi")), "abc.def.ghi");
  });
});
