import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { RetryInfo } from "../../gen/google/rpc/error_details.js";
import { readStatusDetails } from "../../platform/grpc/index.js";
import { detailsOf } from "../../test/support/status-details.js";
import { rejectionOf, signUp, startTestIdentity, type TestIdentity, testDialects, testPassword, uniqueEmail } from "./identity.test-support.js";

for (const dialect of testDialects) {
  describe(`refresh-token rotation on ${dialect}`, () => {
    let identity: TestIdentity;

    before(async () => {
      identity = await startTestIdentity(dialect);
    });

    after(async () => {
      await identity?.stop();
    });

    it("revokes the whole family when a spent refresh token is presented again, and only that family", async () => {
      const account = await signUp(identity);
      const otherDevice = await identity.call("login", { email: account.email, password: testPassword });
      const second = await identity.call("refresh", { refreshToken: account.refreshToken });
      const third = await identity.call("refresh", { refreshToken: second.refreshToken });

      const reuse = await rejectionOf(identity.call("refresh", { refreshToken: account.refreshToken }));
      assert.equal(reuse.code, status.UNAUTHENTICATED);
      assert.match(reuse.details, /already used/);
      const latest = await rejectionOf(identity.call("refresh", { refreshToken: third.refreshToken }));
      assert.equal(latest.code, status.UNAUTHENTICATED, "the newest token of the stolen family is dead too");
      assert.match(identity.logText(), /a spent refresh token was presented again/);

      await identity.call("refresh", { refreshToken: otherDevice.refreshToken });
    });

    it("stores refresh tokens only as their SHA-256, never the token itself", async () => {
      const account = await signUp(identity);
      const refreshed = await identity.call("refresh", { refreshToken: account.refreshToken });
      const rows = await identity.running.db.selectFrom("identity_refresh_token").selectAll().where("user_id", "=", account.userId).execute();
      assert.equal(rows.length, 2);
      const stored = JSON.stringify(rows);
      for (const token of [account.refreshToken, refreshed.refreshToken]) {
        assert.equal(stored.includes(token), false, "the opaque token is not in the database");
        assert.ok(rows.some((row) => row.token_hash === createHash("sha256").update(token).digest("hex")));
      }
    });

    it("lets exactly one of two simultaneous refreshes with the same token win, then revokes the family", async () => {
      const account = await signUp(identity);
      const outcomes = await Promise.allSettled([
        identity.call("refresh", { refreshToken: account.refreshToken }),
        identity.call("refresh", { refreshToken: account.refreshToken }),
      ]);
      const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
      assert.equal(won.length, 1);
      const winner = (won[0] as PromiseFulfilledResult<{ refreshToken: string }>).value;
      assert.equal((await rejectionOf(identity.call("refresh", { refreshToken: winner.refreshToken }))).code, status.UNAUTHENTICATED);
    });

    it("refuses an expired refresh token and tokens it never issued", async () => {
      const account = await signUp(identity);
      identity.shiftClock(7 * 24 * 3_600_000 + 1000);
      try {
        const expired = await rejectionOf(identity.call("refresh", { refreshToken: account.refreshToken }));
        assert.equal(expired.code, status.UNAUTHENTICATED);
        assert.match(expired.details, /expired/);
      } finally {
        identity.shiftClock(0);
      }
      for (const forged of ["A".repeat(43), "not a token"]) {
        const error = await rejectionOf(identity.call("refresh", { refreshToken: forged }));
        assert.equal(error.code, status.UNAUTHENTICATED);
        assert.match(error.details, /not valid/);
      }
    });
  });
}

describe("brute-force sign-in", () => {
  let identity: TestIdentity;

  before(async () => {
    identity = await startTestIdentity("sqlite", {
      MEL_IDENTITY_LOGIN_MAX_FAILURES: "3",
      MEL_IDENTITY_LOGIN_LOCKOUT: "60s",
      MEL_IDENTITY_LOGIN_FAILURE_WINDOW: "5m",
    });
  });

  after(async () => {
    await identity?.stop();
  });

  async function failures(email: string, count: number): Promise<string[]> {
    const details: string[] = [];
    for (let i = 0; i < count; i++) {
      const error = await rejectionOf(identity.call("login", { email, password: "wrong-password" }));
      assert.equal(error.code, status.UNAUTHENTICATED);
      details.push(error.details);
    }
    return details;
  }

  it("locks an account after repeated failures, even for the right password, with a retry hint", async () => {
    const account = await signUp(identity);
    await failures(account.email, 3);
    const locked = await rejectionOf(identity.call("login", { email: account.email, password: testPassword }));
    assert.equal(locked.code, status.RESOURCE_EXHAUSTED);
    assert.match(locked.details, /too many failed sign-ins for this email; try again in (59|60) seconds/);

    identity.shiftClock(61_000);
    try {
      await identity.call("login", { email: account.email, password: testPassword });
    } finally {
      identity.shiftClock(0);
    }
  });

  it("says LOGIN_LOCKED_OUT with a RetryInfo of the lock-out's remaining time, and CREDENTIALS_INVALID before it", async () => {
    const account = await signUp(identity);
    const wrong = await rejectionOf(identity.call("login", { email: account.email, password: "wrong-password" }));
    assert.equal(detailsOf(wrong).reason, "CREDENTIALS_INVALID");
    await failures(account.email, 2);
    const locked = await rejectionOf(identity.call("login", { email: account.email, password: testPassword }));
    assert.equal(detailsOf(locked).reason, "LOGIN_LOCKED_OUT");
    const retry = readStatusDetails(locked.metadata)?.details.find((any) => any.typeUrl === "type.googleapis.com/google.rpc.RetryInfo");
    const delay = retry === undefined ? undefined : RetryInfo.decode(retry.value).retryDelay;
    assert.ok(delay !== undefined && delay.seconds >= 59 && delay.seconds <= 60, `retry delay ${JSON.stringify(delay)}`);
  });

  it("answers an unknown email exactly like a wrong password, lockout included", async () => {
    const account = await signUp(identity);
    const nobody = uniqueEmail("nobody");
    const known = await failures(account.email, 3);
    const unknown = await failures(nobody, 3);
    assert.deepEqual(unknown, known);
    assert.deepEqual(new Set(known), new Set(["the email or password is not correct"]));
    const lockedKnown = await rejectionOf(identity.call("login", { email: account.email, password: "wrong-password" }));
    const lockedUnknown = await rejectionOf(identity.call("login", { email: nobody, password: "wrong-password" }));
    assert.equal(lockedKnown.code, status.RESOURCE_EXHAUSTED);
    assert.equal(lockedUnknown.code, status.RESOURCE_EXHAUSTED);
    assert.equal(lockedUnknown.details.replace(/\d+ seconds/, "N seconds"), lockedKnown.details.replace(/\d+ seconds/, "N seconds"));
  });

  it("forgets failures after a successful sign-in", async () => {
    const account = await signUp(identity);
    await failures(account.email, 2);
    await identity.call("login", { email: account.email, password: testPassword });
    await failures(account.email, 2);
    await identity.call("login", { email: account.email, password: testPassword });
  });

  it("upgrades a password hash made at a lower cost on the next sign-in", async () => {
    const account = await signUp(identity);
    const before = await identity.running.db.selectFrom("identity_user").select("password_hash").where("email", "=", account.email).executeTakeFirstOrThrow();
    assert.match(before.password_hash, /^\$scrypt\$ln=10,/);
    const stronger = await startTestIdentity("sqlite", { MEL_IDENTITY_PASSWORD_HASH_COST: "11" });
    try {
      const email = uniqueEmail();
      await stronger.call("register", { email, password: testPassword, displayName: "" });
      await stronger.running.db.updateTable("identity_user").set({ password_hash: before.password_hash }).where("email", "=", email).execute();
      await stronger.call("login", { email, password: testPassword });
      const after = await stronger.running.db.selectFrom("identity_user").select("password_hash").where("email", "=", email).executeTakeFirstOrThrow();
      assert.match(after.password_hash, /^\$scrypt\$ln=11,/);
      await stronger.call("login", { email, password: testPassword });
    } finally {
      await stronger.stop();
    }
  });
});
