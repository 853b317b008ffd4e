import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  rejectionOf,
  signInAdmin,
  signUp,
  startTestIdentity,
  type TestIdentity,
  testAdmin,
  testDialects,
  testPassword,
  uniqueEmail,
} from "./identity.test-support.js";

const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const dialect of testDialects) {
  describe(`identity account life cycle on ${dialect}`, () => {
    let identity: TestIdentity;

    before(async () => {
      identity = await startTestIdentity(dialect);
    });

    after(async () => {
      await identity?.stop();
    });

    it("registers, signs in, answers Me, refreshes, signs out, and refuses the spent session", async () => {
      const { user } = await identity.call("register", { email: "  Maria.Silva@Example.COM ", password: testPassword, displayName: "Maria Silva" });
      assert.match(user!.id, uuidShape);
      assert.equal(user!.email, "maria.silva@example.com");
      assert.deepEqual(user!.roles, ["buyer"]);
      assert.ok(user!.createTime instanceof Date);

      const login = await identity.call("login", { email: "MARIA.SILVA@example.com", password: testPassword });
      assert.equal(login.tokenType, "Bearer");
      assert.equal(login.expiresIn, 900);
      assert.equal(login.refreshExpiresIn, 7 * 24 * 3600);
      const header = decodeProtectedHeader(login.accessToken);
      assert.equal(header.alg, "ES256");
      assert.equal(header.typ, "at+jwt");
      const claims = decodeJwt(login.accessToken);
      assert.equal(claims.iss, "mel-identity");
      assert.equal(claims.aud, "mel-api");
      assert.equal(claims.sub, user!.id);
      assert.equal(claims.email, "maria.silva@example.com");
      assert.deepEqual(claims.roles, ["buyer"]);
      assert.match(String(claims.jti), uuidShape);
      assert.equal(claims.exp! - claims.iat!, 900);

      const me = await identity.call("me", {}, login.accessToken);
      assert.equal(me.user!.id, user!.id);
      assert.equal(me.user!.displayName, "Maria Silva");
      assert.equal(me.tokenExpireTime!.getTime(), claims.exp! * 1000);

      const refreshed = await identity.call("refresh", { refreshToken: login.refreshToken });
      assert.notEqual(refreshed.refreshToken, login.refreshToken);
      assert.notEqual(decodeJwt(refreshed.accessToken).jti, claims.jti);
      assert.equal((await identity.call("me", {}, refreshed.accessToken)).user!.id, user!.id);

      await identity.call("logout", { refreshToken: refreshed.refreshToken });
      const afterLogout = await rejectionOf(identity.call("refresh", { refreshToken: refreshed.refreshToken }));
      assert.equal(afterLogout.code, status.UNAUTHENTICATED);
      assert.match(afterLogout.details, /revoked/);
      // Signing out again, or with a token we never issued, is not an error.
      await identity.call("logout", { refreshToken: refreshed.refreshToken });
      await identity.call("logout", { refreshToken: "x".repeat(43) });
    });

    it("refuses a second account for the same email in any spelling", async () => {
      const email = uniqueEmail();
      await identity.call("register", { email, password: testPassword, displayName: "" });
      const error = await rejectionOf(identity.call("register", { email: ` ${email.toUpperCase()} `, password: testPassword, displayName: "" }));
      assert.equal(error.code, status.ALREADY_EXISTS);
      assert.match(error.details, /already exists/);
    });

    it("lets an admin grant and revoke roles, which the next token carries", async () => {
      const buyer = await signUp(identity);
      const admin = await signInAdmin(identity);
      const granted = await identity.call("grantRole", { userId: buyer.userId, role: "stock-manager" }, admin.accessToken);
      assert.deepEqual(granted.user!.roles, ["buyer", "stock-manager"]);
      const next = await identity.call("login", { email: buyer.email, password: testPassword });
      assert.deepEqual(decodeJwt(next.accessToken).roles, ["buyer", "stock-manager"]);
      const revoked = await identity.call("revokeRole", { userId: buyer.userId, role: "stock-manager" }, admin.accessToken);
      assert.deepEqual(revoked.user!.roles, ["buyer"]);
    });
  });
}

describe("identity rules over gRPC", () => {
  let identity: TestIdentity;

  before(async () => {
    identity = await startTestIdentity("sqlite", {
      MEL_IDENTITY_PASSWORD_MIN_LENGTH: "10",
      MEL_IDENTITY_ACCESS_TOKEN_TTL: "5m",
      MEL_IDENTITY_REFRESH_TOKEN_TTL: "48h",
    });
  });

  after(async () => {
    await identity?.stop();
  });

  it("issues access and refresh tokens with the configured lifetimes", async () => {
    const buyer = await signUp(identity);
    const claims = decodeJwt(buyer.accessToken);
    assert.equal(claims.exp! - claims.iat!, 300);
    assert.equal(buyer.expiresIn, 300);
    assert.equal(buyer.refreshExpiresIn, 2 * 24 * 3600);
    const refreshed = await identity.call("refresh", { refreshToken: buyer.refreshToken });
    assert.equal(refreshed.expiresIn, 300);
    const row = await identity.running.db
      .selectFrom("identity_refresh_token")
      .select(["create_time", "expire_time"])
      .where("user_id", "=", buyer.userId)
      .executeTakeFirstOrThrow();
    assert.equal(new Date(row.expire_time).getTime() - new Date(row.create_time).getTime(), 2 * 24 * 3_600_000);
  });

  it("names the bad field with INVALID_ARGUMENT", async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [identity.call("register", { email: "not-an-email", password: testPassword, displayName: "" }), /^email: must be an email address/],
      [identity.call("register", { email: uniqueEmail(), password: "short-pw", displayName: "" }), /^password: must be at least 10 characters \(got 8\)/],
      [identity.call("register", { email: uniqueEmail(), password: testPassword, displayName: "x".repeat(101) }), /^display_name: must be at most 100/],
      [identity.call("login", { email: "", password: "x" }), /^email: is required/],
      [identity.call("login", { email: "ana@example.com", password: "" }), /^password: is required/],
      [identity.call("refresh", { refreshToken: "" }), /^refresh_token: is required/],
      [identity.call("logout", { refreshToken: "" }), /^refresh_token: is required/],
    ];
    for (const [call, details] of cases) {
      const error = await rejectionOf(call);
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.match(error.details, details);
    }
  });

  it("refuses admin RPCs to anonymous callers (UNAUTHENTICATED) and to buyers (PERMISSION_DENIED)", async () => {
    const buyer = await signUp(identity);
    const calls = {
      grantRole: (token?: string) => identity.call("grantRole", { userId: buyer.userId, role: "admin" }, token),
      revokeRole: (token?: string) => identity.call("revokeRole", { userId: buyer.userId, role: "buyer" }, token),
      rotateSigningKey: (token?: string) => identity.call("rotateSigningKey", {}, token),
    };
    for (const [name, call] of Object.entries(calls)) {
      assert.equal((await rejectionOf(call())).code, status.UNAUTHENTICATED, `${name} without a token`);
      const denied = await rejectionOf(call(buyer.accessToken));
      assert.equal(denied.code, status.PERMISSION_DENIED, `${name} as a buyer`);
      assert.match(denied.details, /"admin" role/);
    }
    assert.equal((await rejectionOf(identity.call("me", {}))).code, status.UNAUTHENTICATED);
    const me = await identity.call("me", {}, buyer.accessToken);
    assert.deepEqual(me.user!.roles, ["buyer"], "nothing above changed the buyer");
  });

  it("validates role changes: user id, role name, unknown user, last admin", async () => {
    const admin = await signInAdmin(identity);
    const bad = await rejectionOf(identity.call("grantRole", { userId: "42", role: "admin" }, admin.accessToken));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(bad.details, /^user_id: must be a user id/);
    const badRole = await rejectionOf(identity.call("grantRole", { userId: randomUUID(), role: "Admin!" }, admin.accessToken));
    assert.match(badRole.details, /^role: must be 1 to 32 lower-case letters/);
    assert.equal((await rejectionOf(identity.call("grantRole", { userId: randomUUID(), role: "admin" }, admin.accessToken))).code, status.NOT_FOUND);
    const me = await identity.call("me", {}, admin.accessToken);
    const lastAdmin = await rejectionOf(identity.call("revokeRole", { userId: me.user!.id, role: "admin" }, admin.accessToken));
    assert.equal(lastAdmin.code, status.FAILED_PRECONDITION);
    assert.match(lastAdmin.details, /last admin/);
  });

  it("seeds the admin from the environment and never logs its password", async () => {
    const admin = await signInAdmin(identity);
    assert.deepEqual(decodeJwt(admin.accessToken).roles, ["admin"]);
    assert.equal((await identity.call("me", {}, admin.accessToken)).user!.email, testAdmin.email);
    const logs = identity.logText();
    assert.match(logs, /admin account seeded/);
    for (const secret of [testAdmin.password, testPassword, admin.accessToken, admin.refreshToken]) assert.equal(logs.includes(secret), false);
  });

  it("seeds no admin, with a warning, when no admin password is configured", async () => {
    const bare = await startTestIdentity("sqlite", { MEL_IDENTITY_ADMIN_PASSWORD: "" });
    try {
      const error = await rejectionOf(signInAdmin(bare));
      assert.equal(error.code, status.UNAUTHENTICATED);
      assert.match(bare.logText(), /MEL_IDENTITY_ADMIN_PASSWORD is not set: no admin account is seeded/);
    } finally {
      await bare.stop();
    }
  });
});
