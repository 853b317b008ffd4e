// What identity keeps of a signed-out session: the revocation row and its
// SessionRevoked event, committed with the refresh tokens' revocation, and
// SessionRevocationService listing them until their access tokens expire.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { credentials, status } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { SessionRevocationReason, SessionRevoked } from "../../gen/mel/events/v1/identity_events.js";
import { SessionRevocationServiceClient } from "../../gen/mel/identity/v1/session_revocations.js";
import { callUnary } from "../../platform/grpc/index.js";
import { rejectionOf, signUp, startTestIdentity, type TestIdentity } from "./identity.test-support.js";

describe("session revocations in identity", () => {
  let identity: TestIdentity;
  let revocations: SessionRevocationServiceClient;
  const list = (pageSize = 0, pageToken = "") => callUnary(revocations, "listSessionRevocations", { pageSize, pageToken });

  before(async () => {
    identity = await startTestIdentity("sqlite");
    revocations = new SessionRevocationServiceClient(identity.address, credentials.createInsecure());
  });

  after(async () => {
    revocations?.close();
    await identity?.stop();
  });

  async function outboxEventsFor(sessionId: string): Promise<SessionRevoked[]> {
    const rows = await identity.running.db.selectFrom("outbox").selectAll().where("event_type", "=", "SessionRevoked").execute();
    return rows.map((row) => SessionRevoked.decode(row.payload)).filter((event) => event.sessionId === sessionId);
  }

  it("records a logout as a SessionRevoked event whose tokens expire one access-token lifetime after it", async () => {
    const buyer = await signUp(identity);
    const sid = String(decodeJwt(buyer.accessToken).sid);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    const [event, ...more] = await outboxEventsFor(sid);
    assert.deepEqual(more, []);
    assert.equal(event?.userId, buyer.userId);
    assert.equal(event.reason, SessionRevocationReason.SESSION_REVOCATION_REASON_SIGNED_OUT);
    const { revokeTime, accessExpireTime } = event;
    assert.ok(revokeTime && accessExpireTime);
    assert.equal(accessExpireTime.getTime() - revokeTime.getTime(), identity.config.tokens.ttlSeconds * 1000);
    assert.ok(accessExpireTime.getTime() >= Number(decodeJwt(buyer.accessToken).exp) * 1000);
  });

  it("records a refresh-token reuse with its own reason", async () => {
    const buyer = await signUp(identity);
    await identity.call("refresh", { refreshToken: buyer.refreshToken });
    await rejectionOf(identity.call("refresh", { refreshToken: buyer.refreshToken }));
    const events = await outboxEventsFor(String(decodeJwt(buyer.accessToken).sid));
    assert.deepEqual(
      events.map((event) => event.reason),
      [SessionRevocationReason.SESSION_REVOCATION_REASON_REFRESH_TOKEN_REUSED],
    );
  });

  it("records a second logout of the same session as nothing new", async () => {
    const buyer = await signUp(identity);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    assert.equal((await outboxEventsFor(String(decodeJwt(buyer.accessToken).sid))).length, 1);
  });

  it("lists a revocation until its access tokens have expired (plus the clock skew), then no more", async () => {
    const buyer = await signUp(identity);
    const sid = String(decodeJwt(buyer.accessToken).sid);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    const listed = (await list()).revocations.find((revocation) => revocation.sessionId === sid);
    assert.equal(listed?.userId, buyer.userId);
    const { ttlSeconds, clockSkewSeconds } = identity.config.tokens;
    try {
      identity.shiftClock((ttlSeconds + clockSkewSeconds - 1) * 1000);
      assert.ok((await list()).revocations.some((revocation) => revocation.sessionId === sid));
      identity.shiftClock((ttlSeconds + clockSkewSeconds + 1) * 1000);
      assert.ok(!(await list()).revocations.some((revocation) => revocation.sessionId === sid));
    } finally {
      identity.shiftClock(0);
    }
  });

  it("pages by session id with next_page_token", async () => {
    for (let i = 0; i < 3; i++) {
      const buyer = await signUp(identity);
      await identity.call("logout", { refreshToken: buyer.refreshToken });
    }
    const everything = (await list()).revocations.map((revocation) => revocation.sessionId);
    const paged: string[] = [];
    let pageToken = "";
    do {
      const page = await list(2, pageToken);
      assert.ok(page.revocations.length <= 2);
      paged.push(...page.revocations.map((revocation) => revocation.sessionId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(paged, everything);
    assert.deepEqual([...everything].sort(), everything);
  });

  it("refuses a page_token it did not issue and a negative page_size, naming the field", async () => {
    const badToken = await rejectionOf(list(0, "not-a-token"));
    assert.equal(badToken.code, status.INVALID_ARGUMENT);
    assert.match(badToken.details, /^page_token: /);
    const badSize = await rejectionOf(list(-1));
    assert.equal(badSize.code, status.INVALID_ARGUMENT);
    assert.match(badSize.details, /^page_size: /);
  });
});
