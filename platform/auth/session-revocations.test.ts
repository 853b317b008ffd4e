import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UnavailableError } from "../errors/index.js";
import { createSessionRevocations } from "./session-revocations.js";

/** A set on a clock the test moves, with a 2 s grace (the verifier's clock skew). */
function harness(sweepIntervalMs = 60_000) {
  let time = Date.parse("2030-01-01T00:00:00Z");
  const revocations = createSessionRevocations({ graceMs: 2000, sweepIntervalMs, clock: () => time });
  return {
    revocations,
    at: (offsetMs: number) => new Date(time + offsetMs),
    advance: (ms: number) => {
      time += ms;
    },
  };
}

describe("session revocations", () => {
  it("holds a revoked session and nothing else", () => {
    const h = harness();
    h.revocations.add("signed-out", h.at(15 * 60_000));
    assert.equal(h.revocations.has("signed-out"), true);
    assert.equal(h.revocations.has("still-signed-in"), false);
  });

  it("keeps an entry until the session's last access token has expired plus the grace", () => {
    const h = harness();
    h.revocations.add("s", h.at(60_000));
    h.advance(60_000 + 1999);
    assert.equal(h.revocations.has("s"), true, "a token is still accepted within the clock skew past exp");
    h.advance(1);
    assert.equal(h.revocations.has("s"), false);
  });

  it("forgets expired entries that are never looked up again, so memory stays bounded", () => {
    const h = harness(10_000);
    for (let i = 0; i < 100; i++) h.revocations.add(`old-${i}`, h.at(1000));
    h.revocations.add("young", h.at(3_600_000));
    assert.equal(h.revocations.size, 101);
    h.advance(10_000);
    h.revocations.add("trigger", h.at(3_600_000));
    assert.equal(h.revocations.size, 2);
  });

  it("does not add a revocation whose tokens have all expired already", () => {
    const h = harness();
    h.revocations.add("long-gone", h.at(-60_000));
    assert.equal(h.revocations.size, 0);
  });

  it("keeps the later expiry when one session is revoked twice", () => {
    const h = harness();
    h.revocations.add("s", h.at(120_000));
    h.revocations.add("s", h.at(30_000));
    h.advance(60_000);
    assert.equal(h.revocations.has("s"), true);
  });

  it("refuses to answer as UNAVAILABLE until the earlier revocations are loaded", () => {
    const revocations = createSessionRevocations({ graceMs: 0, loaded: false });
    revocations.add("s", new Date(Date.now() + 60_000));
    assert.throws(
      () => revocations.has("other"),
      (error: unknown) => error instanceof UnavailableError && /not loaded from identity yet/.test(error.message),
    );
    revocations.markLoaded();
    assert.equal(revocations.has("other"), false);
    assert.equal(revocations.has("s"), true);
  });

  it("tells a server waiting on it when the earlier revocations are in", async () => {
    const revocations = createSessionRevocations({ graceMs: 0, loaded: false });
    let loadedSeen = false;
    const waiting = revocations.whenLoaded().then(() => {
      loadedSeen = true;
    });
    await Promise.resolve();
    assert.equal(loadedSeen, false, "not before markLoaded");
    revocations.markLoaded();
    await waiting;
    assert.equal(loadedSeen, true);
    await createSessionRevocations({ graceMs: 0 }).whenLoaded();
  });
});
