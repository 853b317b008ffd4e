import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CryptoKey, exportSPKI, importJWK, SignJWT } from "jose";
import { ErrorReason, UnauthenticatedError } from "../errors/index.js";
import {
  createTestSigningKey,
  jwksOf,
  payloadOf,
  signTestToken,
  type TestSigningKey,
  testAudience,
  testIssuer,
  unsignedToken,
  withPayload,
} from "./auth.test-support.js";
import { createCachedKeySet } from "./key-set.js";
import { createSessionRevocations } from "./session-revocations.js";
import { createTokenVerifier, type TokenVerifier } from "./token-verifier.js";

const trusted = await createTestSigningKey("ES256");
const trustedRsa = await createTestSigningKey("RS256");
const stranger = await createTestSigningKey("ES256");

function verifierFor(...keys: TestSigningKey[]): TokenVerifier {
  return createTokenVerifier({ keys: createCachedKeySet(async () => jwksOf(...keys)), issuer: testIssuer, audience: testAudience, clockSkewSeconds: 5 });
}

const verifier = verifierFor(trusted, trustedRsa);

async function rejected(token: string, reason: RegExp): Promise<void> {
  await assert.rejects(verifier.verify(token), (error: unknown) => {
    assert.ok(error instanceof UnauthenticatedError, `expected UnauthenticatedError, got ${String(error)}`);
    assert.match(error.message, reason);
    return true;
  });
}

describe("token verifier", () => {
  it("turns a valid ES256 token into the principal", async () => {
    const token = await signTestToken(trusted, { claims: { roles: ["buyer", "admin"] } });
    const principal = await verifier.verify(token);
    assert.equal(principal.subject, payloadOf(token).sub);
    assert.equal(principal.email, "ana@example.com");
    assert.deepEqual(principal.roles, ["buyer", "admin"]);
    assert.equal(principal.token, token);
    assert.equal(principal.expiresAt.getTime(), (payloadOf(token).exp as number) * 1000);
  });

  it("accepts RS256 tokens too", async () => {
    const principal = await verifier.verify(await signTestToken(trustedRsa));
    assert.deepEqual(principal.roles, ["buyer"]);
  });

  it('rejects an unsigned token ("alg": "none")', async () => {
    const payload = payloadOf(await signTestToken(trusted, { claims: { roles: ["admin"] } }));
    await rejected(unsignedToken(payload, trusted.kid), /signed with ES256 or RS256|malformed/);
  });

  it("rejects HS256 signed with the public key as the shared secret (algorithm confusion)", async () => {
    const publicKey = (await importJWK(trusted.publicJwk, "ES256")) as CryptoKey;
    const secret = new TextEncoder().encode(await exportSPKI(publicKey));
    const token = await new SignJWT({ ...payloadOf(await signTestToken(trusted)), roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: trusted.kid, typ: "at+jwt" })
      .sign(secret);
    await rejected(token, /signed with ES256 or RS256/);
  });

  it("rejects an expired token", async () => {
    await rejected(await signTestToken(trusted, { issuedAt: -120, notBefore: -120, expiresIn: -60 }), /expired/);
  });

  it("gives an expired token the reason TOKEN_EXPIRED and a bad signature TOKEN_INVALID", async () => {
    const reasonOf = (token: string) =>
      verifier.verify(token).then(
        () => assert.fail("the token should be refused"),
        (error: unknown) => (error instanceof UnauthenticatedError ? ErrorReason[error.reason] : String(error)),
      );
    const expired = await signTestToken(trusted, { issuedAt: -120, notBefore: -120, expiresIn: -60 });
    assert.equal(await reasonOf(expired), "TOKEN_EXPIRED");
    const valid = await signTestToken(trusted);
    assert.equal(await reasonOf(`${valid.slice(0, -4)}AAAA`), "TOKEN_INVALID");
  });

  it("accepts a token expired by less than the clock skew", async () => {
    await verifier.verify(await signTestToken(trusted, { issuedAt: -60, notBefore: -60, expiresIn: -2 }));
  });

  it("rejects a token that is not valid yet (nbf in the future)", async () => {
    await rejected(await signTestToken(trusted, { notBefore: 120 }), /not valid yet/);
  });

  it("rejects a token issued in the future", async () => {
    await rejected(await signTestToken(trusted, { issuedAt: 120 }), /issue time/);
  });

  it("rejects a token issued longer ago than the age ceiling, whatever its exp says", async () => {
    await rejected(await signTestToken(trusted, { issuedAt: -2 * 86_400, notBefore: -2 * 86_400, expiresIn: 3600 }), /expired/);
  });

  it("rejects a token from another issuer", async () => {
    await rejected(await signTestToken(trusted, { claims: { iss: "someone-else" } }), /"iss"/);
  });

  it("rejects a token for another audience", async () => {
    await rejected(await signTestToken(trusted, { claims: { aud: "another-api" } }), /"aud"/);
  });

  it("rejects a token signed by a key it does not trust (unknown kid)", async () => {
    await rejected(await signTestToken(stranger), /unknown kid/);
  });

  it("rejects a token signed by another key under a trusted kid", async () => {
    await rejected(await signTestToken({ ...stranger, kid: trusted.kid }), /signature does not verify/);
  });

  it("rejects a tampered payload (roles raised to admin)", async () => {
    const token = await signTestToken(trusted);
    await rejected(withPayload(token, { ...payloadOf(token), roles: ["admin"] }), /signature does not verify/);
  });

  it("rejects a tampered signature", async () => {
    const token = await signTestToken(trusted);
    const [header, payload, signature] = token.split(".");
    const flipped = `${signature!.startsWith("A") ? "B" : "A"}${signature!.slice(1)}`;
    await rejected(`${header}.${payload}.${flipped}`, /signature does not verify/);
  });

  it("rejects a token without a kid", async () => {
    await rejected(await signTestToken(trusted, { header: { kid: undefined } }), /no key id/);
  });

  it("rejects a JWT that is not an access token (typ)", async () => {
    await rejected(await signTestToken(trusted, { header: { typ: "JWT" } }), /"typ"/);
  });

  it("rejects a token without a subject or with a malformed roles claim", async () => {
    await rejected(await signTestToken(trusted, { claims: { sub: undefined } }), /"sub"/);
    await rejected(await signTestToken(trusted, { claims: { roles: "admin" } }), /roles claim/);
  });

  it("rejects a token without jti", async () => {
    await rejected(await signTestToken(trusted, { claims: { jti: undefined } }), /"jti"/);
  });

  it("rejects garbage", async () => {
    await rejected("not.a.token", /malformed/);
    await rejected("", /malformed/);
  });

  describe("signed-out sessions", () => {
    const revocations = createSessionRevocations({ graceMs: 5000 });
    revocations.add("signed-out-session", new Date(Date.now() + 600_000));
    const guarded = createTokenVerifier({
      keys: createCachedKeySet(async () => jwksOf(trusted)),
      issuer: testIssuer,
      audience: testAudience,
      revokedSessions: revocations,
    });

    it("refuses a valid token whose session was signed out", async () => {
      const token = await signTestToken(trusted, { claims: { sid: "signed-out-session" } });
      await assert.rejects(guarded.verify(token), (error: unknown) => {
        assert.ok(error instanceof UnauthenticatedError, String(error));
        assert.equal(error.message, "the access token's session was signed out; sign in again");
        return true;
      });
    });

    it("accepts a token of another session, and one without a session id", async () => {
      await guarded.verify(await signTestToken(trusted, { claims: { sid: "another-session" } }));
      await guarded.verify(await signTestToken(trusted));
    });

    it("rejects a session id that is not a string", async () => {
      await assert.rejects(guarded.verify(await signTestToken(trusted, { claims: { sid: 42 } })), /session id \(sid\)/);
    });
  });
});
