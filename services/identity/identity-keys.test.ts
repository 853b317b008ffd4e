import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { decodeProtectedHeader, SignJWT } from "jose";
import { createLogger } from "../../platform/log/index.js";
import { runCli } from "../../scripts/mel.js";
import { waitUntil } from "../../test/support/wait.js";
import {
  rejectionOf,
  signInAdmin,
  signUp,
  startTestIdentity,
  type TestIdentity,
  testDialects,
  testIdentityConfig,
  unsealedKey,
} from "./identity.test-support.js";
import { startIdentity } from "./main.js";
import { startMaintenance } from "./maintenance.js";

const quiet = createLogger({ service: "test", level: "silent" });

async function kids(identity: TestIdentity): Promise<string[]> {
  return (await identity.call("getJwks", {})).keys.map((key) => key.kid);
}

for (const dialect of testDialects) {
  describe(`signing-key rotation on ${dialect}`, () => {
    let identity: TestIdentity;

    before(async () => {
      identity = await startTestIdentity(dialect);
    });

    after(async () => {
      await identity?.stop();
    });

    it("keeps old tokens valid after a rotation, signs new ones with the new kid, then drops the old key", async () => {
      const buyer = await signUp(identity);
      const oldKid = decodeProtectedHeader(buyer.accessToken).kid!;
      const oldKey = await unsealedKey(identity, oldKid);
      const admin = await signInAdmin(identity);

      const rotated = await identity.call("rotateSigningKey", {}, admin.accessToken);
      assert.notEqual(rotated.kid, oldKid);
      assert.equal(rotated.alg, "ES256");
      assert.deepEqual(new Set(await kids(identity)), new Set([oldKid, rotated.kid]));
      assert.equal((await identity.call("me", {}, buyer.accessToken)).user!.id, buyer.userId, "a token of the retired key still works");
      const fresh = await identity.call("login", { email: buyer.email, password: "s3nha-de-teste" });
      assert.equal(decodeProtectedHeader(fresh.accessToken).kid, rotated.kid);

      // Past the last moment a token of the old key can be valid (TTL + skew + cache), the key is removed.
      identity.shiftClock((900 + 2) * 1000 + 10_001);
      try {
        assert.equal(await identity.running.keyRing.prune(), 1);
      } finally {
        identity.shiftClock(0);
      }
      assert.deepEqual(await kids(identity), [rotated.kid]);
      const removed = await rejectionOf(identity.call("me", {}, buyer.accessToken));
      assert.equal(removed.code, status.UNAUTHENTICATED, "the token's own exp is still ahead, but its key is gone");
      assert.match(removed.details, /unknown kid/);
      // Whoever kept the old private key cannot mint tokens with it either.
      const minted = await new SignJWT({ roles: ["admin"], email: "x@example.com" })
        .setProtectedHeader({ alg: oldKey.alg, kid: oldKey.kid, typ: "at+jwt" })
        .setIssuer("mel-identity")
        .setAudience("mel-api")
        .setSubject(buyer.userId)
        .setIssuedAt()
        .setJti("j")
        .setExpirationTime("5m")
        .sign(oldKey.privateKey);
      assert.equal((await rejectionOf(identity.call("rotateSigningKey", {}, minted))).code, status.UNAUTHENTICATED);
      assert.equal((await identity.call("me", {}, fresh.accessToken)).user!.id, buyer.userId);
    });
  });
}

describe("signing keys at rest and on schedule", () => {
  let identity: TestIdentity;

  before(async () => {
    identity = await startTestIdentity("sqlite", {}, { keyCacheTtlMs: 50 });
  });

  after(async () => {
    await identity?.stop();
  });

  it("stores the public JWK in clear and the private one only sealed; the JWKS carries public members only", async () => {
    const current = await unsealedKey(identity);
    const row = await identity.running.db.selectFrom("identity_signing_key").selectAll().where("kid", "=", current.kid).executeTakeFirstOrThrow();
    const publicJwk = JSON.parse(row.public_jwk) as Record<string, unknown>;
    assert.deepEqual(Object.keys(publicJwk).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert.match(row.sealed_private_jwk, /^v1\./);
    assert.equal(row.sealed_private_jwk.includes('"d"'), false);
    const served = await identity.call("getJwks", {});
    for (const key of served.keys) {
      assert.deepEqual(
        { kty: key.kty, use: key.use, alg: key.alg, crv: key.crv, n: key.n, e: key.e },
        { kty: "EC", use: "sig", alg: "ES256", crv: "P-256", n: "", e: "" },
      );
    }
    for (const jwk of (await identity.running.keyRing.jwks()).keys) {
      for (const member of ["d", "p", "q", "dp", "dq", "qi", "k"]) assert.equal(member in jwk, false);
    }
  });

  it("rotates on the configured interval", async () => {
    const before = (await identity.running.keyRing.currentKey()).kid;
    const maintenance = startMaintenance({
      db: identity.running.db,
      keyRing: identity.running.keyRing,
      keyRotationIntervalMs: 200,
      throttleWindowMs: 60_000,
      logger: quiet,
      checkEveryMs: 20,
    });
    try {
      await waitUntil("a scheduled rotation", async () => (await identity.running.keyRing.currentKey()).kid !== before);
    } finally {
      await maintenance.stop();
    }
    assert.ok((await kids(identity)).includes(before), "the previous key stays in the JWKS");
  });

  it("rotates on demand from the CLI, and the running service picks the new key up", async () => {
    const lines: string[] = [];
    const code = await runCli(["keys", "rotate", "--json"], {
      out: (line) => void lines.push(line),
      err: (line) => void lines.push(line),
      env: { MEL_IDENTITY_DATABASE_URL: identity.config.databaseUrl, MEL_IDENTITY_KEY_ENCRYPTION_KEY: identity.config.keyEncryptionKey },
    });
    assert.equal(code, 0, lines.join("\n"));
    const { kid } = JSON.parse(lines.at(-1)!) as { kid: string };
    await waitUntil("the CLI's key in the JWKS", async () => (await kids(identity)).includes(kid));
    const buyer = await signUp(identity);
    assert.equal(decodeProtectedHeader(buyer.accessToken).kid, kid);
    assert.equal((await identity.call("me", {}, buyer.accessToken)).user!.id, buyer.userId);

    const listed: string[] = [];
    const env = { MEL_IDENTITY_DATABASE_URL: identity.config.databaseUrl, MEL_IDENTITY_KEY_ENCRYPTION_KEY: identity.config.keyEncryptionKey };
    assert.equal(
      await runCli(["keys", "list", "--json"], { out: (line) => void listed.push(line), err: (line) => void listed.push(line), env }),
      0,
      listed.join("\n"),
    );
    const keys = JSON.parse(listed.join("\n")) as Array<{ kid: string; retired: string | null }>;
    assert.deepEqual(
      keys.filter((key) => key.retired === null).map((key) => key.kid),
      [kid],
      "the CLI's key is the one current key",
    );
    assert.deepEqual(new Set(keys.map((key) => key.kid)), new Set(await kids(identity)), "the list is what the JWKS serves");
    assert.doesNotMatch(listed.join("\n"), /"d"|sealed|v1\./, "no private part is shown");
  });

  it("starts with a new key when the key-encryption key changed, and old tokens still verify", async () => {
    const buyer = await signUp(identity);
    const oldKid = decodeProtectedHeader(buyer.accessToken).kid;
    const config = {
      ...testIdentityConfig(identity.config.databaseUrl, { MEL_EVENTS_EXCHANGE: identity.config.messaging.exchange }),
      keyEncryptionKey: Buffer.alloc(32, 9).toString("base64"),
    };
    const second = await startIdentity({ config, logger: quiet });
    try {
      const current = await second.keyRing.currentKey();
      assert.notEqual(current.kid, oldKid);
      assert.ok((await second.keyRing.jwks()).keys.some((key) => key.kid === oldKid));
    } finally {
      await second.stop();
    }
    assert.equal((await identity.call("me", {}, buyer.accessToken)).user!.id, buyer.userId);
  });
});
