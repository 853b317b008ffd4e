import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errors, type JSONWebKeySet } from "jose";
import { UnavailableError } from "../errors/index.js";
import { createTestSigningKey, jwksOf, signTestToken, type TestSigningKey, testAudience, testIssuer } from "./auth.test-support.js";
import { type CachedKeySetOptions, createCachedKeySet } from "./key-set.js";
import { createTokenVerifier } from "./token-verifier.js";

const first = await createTestSigningKey();
const second = await createTestSigningKey();

/** A key source whose answer the test changes, with a clock the test moves. */
function harness(initial: TestSigningKey[], options: CachedKeySetOptions = {}) {
  let keys: JSONWebKeySet = jwksOf(...initial);
  let failure: Error | undefined;
  let time = 1_000_000;
  const set = createCachedKeySet(
    async () => {
      if (failure) throw failure;
      return keys;
    },
    { clock: () => time, ...options },
  );
  const verifier = createTokenVerifier({ keys: set, issuer: testIssuer, audience: testAudience });
  return {
    set,
    verifier,
    serve: (...next: TestSigningKey[]) => {
      keys = jwksOf(...next);
    },
    fail: (error: Error | undefined) => {
      failure = error;
    },
    advance: (ms: number) => {
      time += ms;
    },
  };
}

describe("cached key set", () => {
  it("fetches once and serves later tokens from the cache", async () => {
    const h = harness([first]);
    for (let i = 0; i < 5; i++) await h.verifier.verify(await signTestToken(first));
    assert.equal(h.set.fetchCount, 1);
  });

  it("shares one fetch between concurrent first uses", async () => {
    const h = harness([first]);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => signTestToken(first)));
    await Promise.all(tokens.map((token) => h.verifier.verify(token)));
    assert.equal(h.set.fetchCount, 1);
  });

  it("fetches again for an unknown kid and then accepts a key published since (rotation)", async () => {
    const h = harness([first], { unknownKidCooldownMs: 1000 });
    await h.verifier.verify(await signTestToken(first));
    h.serve(first, second);
    h.advance(1000);
    await h.verifier.verify(await signTestToken(second));
    assert.equal(h.set.fetchCount, 2);
  });

  it("lets a flood of unknown kids cause at most one fetch per cool-down", async () => {
    const h = harness([first], { unknownKidCooldownMs: 10_000 });
    await h.verifier.verify(await signTestToken(first));
    const forged = await Promise.all(Array.from({ length: 50 }, async () => signTestToken(await createTestSigningKey())));
    h.advance(10_000);
    const outcomes = await Promise.allSettled(forged.map((token) => h.verifier.verify(token)));
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.status === "rejected" ? (outcome.reason as Error).message : "verified")),
      forged.map(() => "the access token was signed by a key this service does not trust (unknown kid)"),
    );
    assert.equal(h.set.fetchCount, 2, "one fetch for the first token, one for the whole flood");
    h.advance(5_000);
    await assert.rejects(h.verifier.verify(forged[0]!), /unknown kid/);
    assert.equal(h.set.fetchCount, 2, "still within the cool-down");
  });

  it("refetches when the keys are older than maxAge, dropping removed keys", async () => {
    const h = harness([first, second], { maxAgeMs: 60_000 });
    const token = await signTestToken(first);
    await h.verifier.verify(token);
    h.serve(second);
    h.advance(60_000);
    await assert.rejects(h.verifier.verify(token), /unknown kid/);
    assert.equal(h.set.fetchCount, 2);
  });

  it("keeps using stale keys for a while when the source fails, then reports it unavailable", async () => {
    const h = harness([first], { maxAgeMs: 60_000, maxStaleMs: 60_000 });
    await h.verifier.verify(await signTestToken(first));
    h.fail(new Error("identity is down"));
    h.advance(90_000);
    await h.verifier.verify(await signTestToken(first));
    h.advance(60_000);
    await assert.rejects(
      h.verifier.verify(await signTestToken(first)),
      (error: unknown) => error instanceof UnavailableError && /identity is down/.test(error.message),
    );
  });

  it("while the source fails, asks it again at most once per cool-down", async () => {
    const h = harness([first], { maxAgeMs: 60_000, unknownKidCooldownMs: 10_000 });
    const token = await signTestToken(first);
    await h.verifier.verify(token);
    h.fail(new Error("identity is down"));
    h.advance(60_000);
    for (let i = 0; i < 10; i++) await h.verifier.verify(token);
    assert.equal(h.set.fetchCount, 2, "one failed refetch, then the stale keys");
    h.advance(10_000);
    h.fail(undefined);
    await h.verifier.verify(token);
    assert.equal(h.set.fetchCount, 3);
    h.advance(1);
    await h.verifier.verify(token);
    assert.equal(h.set.fetchCount, 3, "fresh again");
  });

  it("reports UNAVAILABLE, not a bad token, when keys were never fetched", async () => {
    const h = harness([first]);
    h.fail(new Error("connection refused"));
    const token = await signTestToken(first);
    await assert.rejects(h.verifier.verify(token), UnavailableError);
    await assert.rejects(h.verifier.verify(token), UnavailableError);
    assert.equal(h.set.fetchCount, 1, "no second attempt within a second");
    h.fail(undefined);
    h.advance(1000);
    await h.verifier.verify(token);
  });

  it("reuses jose's resolver when the source returns the same object", async () => {
    const jwks = jwksOf(first);
    const set = createCachedKeySet(async () => jwks, { maxAgeMs: 0 });
    const header = { alg: "ES256", kid: first.kid };
    const token = { payload: "", signature: "", protected: "" };
    const a = await set.getKey(header, token);
    const b = await set.getKey(header, token);
    assert.equal(a, b, "the same imported CryptoKey");
    assert.equal(set.fetchCount, 2);
    await assert.rejects(set.getKey({ alg: "ES256", kid: "nope" }, token), errors.JWKSNoMatchingKey);
  });
});
