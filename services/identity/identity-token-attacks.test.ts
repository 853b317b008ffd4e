// Forged and altered access tokens against the running service (Me and the
// admin-only RotateSigningKey), signed where it matters with identity's real
// private key so only the claim under test is wrong; and the tokens verified
// by an independent JWT library against the served JWKS.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { base64url, type CryptoKey, decodeJwt, exportSPKI, importJWK, type JWTPayload, SignJWT } from "jose";
import jwt from "jsonwebtoken";
import jwksRsa from "jwks-rsa";
import { GetJwksResponse } from "../../gen/mel/identity/v1/identity.js";
import { rejectionOf, signInAdmin, signUp, startTestIdentity, type TestIdentity, unsealedKey } from "./identity.test-support.js";
import type { SigningKey } from "./signing-key.js";

function sign(key: SigningKey, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt", ...header } as { alg: string }).sign(key.privateKey);
}

function encodePart(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

describe("forged access tokens", () => {
  let identity: TestIdentity;
  let key: SigningKey;
  let valid: JWTPayload;
  let buyerToken: string;

  before(async () => {
    identity = await startTestIdentity("sqlite");
    key = await unsealedKey(identity);
    const buyer = await signUp(identity);
    buyerToken = buyer.accessToken;
    valid = decodeJwt(buyer.accessToken);
  });

  after(async () => {
    await identity?.stop();
  });

  async function refused(token: string, details: RegExp): Promise<void> {
    // One call at a time: each rejection is awaited where its promise is made.
    for (const call of [() => identity.call("me", {}, token), () => identity.call("rotateSigningKey", {}, token)]) {
      const error = await rejectionOf(call());
      assert.equal(error.code, status.UNAUTHENTICATED, error.details);
      assert.match(error.details, details);
    }
  }

  it("accepts the real key's token with the admin role (the baseline the attacks change one thing of)", async () => {
    const token = await sign(key, { ...valid, roles: ["admin"] });
    assert.equal((await identity.call("rotateSigningKey", {}, token)).alg, "ES256");
    key = await unsealedKey(identity);
  });

  it('refuses "alg": "none"', async () => {
    const token = `${encodePart({ alg: "none", typ: "at+jwt", kid: key.kid })}.${encodePart({ ...valid, roles: ["admin"] })}.`;
    await refused(token, /ES256 or RS256|malformed/);
  });

  it("refuses HS256 signed with the public key as the secret", async () => {
    const jwk = (await identity.running.keyRing.jwks()).keys.find((candidate) => candidate.kid === key.kid)!;
    const pem = await exportSPKI((await importJWK(jwk, "ES256")) as CryptoKey);
    const token = await new SignJWT({ ...valid, roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: key.kid, typ: "at+jwt" })
      .sign(new TextEncoder().encode(pem));
    await refused(token, /ES256 or RS256/);
  });

  it("refuses an expired token and a token not valid yet, from the real key", async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(await sign(key, { ...valid, roles: ["admin"], iat: now - 600, nbf: now - 600, exp: now - 300 }), /expired/);
    await refused(await sign(key, { ...valid, roles: ["admin"], iat: now, nbf: now + 300, exp: now + 900 }), /not valid yet/);
  });

  it("refuses tokens identity issued while its clock was off (expired, not yet valid)", async () => {
    identity.shiftClock(-3_600_000);
    const past = await signUp(identity);
    identity.shiftClock(3_600_000);
    const future = await signUp(identity);
    identity.shiftClock(0);
    await refused(past.accessToken, /expired/);
    await refused(future.accessToken, /not valid yet/);
  });

  it("refuses another issuer or audience, even signed by the real key", async () => {
    await refused(await sign(key, { ...valid, roles: ["admin"], iss: "https://evil.example" }), /"iss"/);
    await refused(await sign(key, { ...valid, roles: ["admin"], aud: "another-api" }), /"aud"/);
  });

  it("refuses a kid it never published", async () => {
    await refused(await sign({ ...key, kid: "00000000-0000-4000-8000-000000000000" }, { ...valid, roles: ["admin"] }), /unknown kid/);
  });

  it("refuses a tampered payload or signature", async () => {
    const [header, , signature] = buyerToken.split(".");
    await refused(`${header}.${encodePart({ ...valid, roles: ["admin"] })}.${signature}`, /signature does not verify/);
    const [h, p, s] = buyerToken.split(".");
    await refused(`${h}.${p}.${s!.startsWith("A") ? "B" : "A"}${s!.slice(1)}`, /signature does not verify/);
  });
});

/** Serves GetJwks over HTTP in the proto3 JSON mapping, as the gateway does at /.well-known/jwks.json. */
async function serveJwksOverHttp(identity: TestIdentity): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    identity.call("getJwks", {}).then(
      (jwks) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(GetJwksResponse.toJSON(jwks))),
      (error: unknown) => response.writeHead(502).end(String(error)),
    );
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`, server };
}

function verifyWithJsonwebtoken(token: string, jwksUri: string, algorithm: jwt.Algorithm): Promise<jwt.JwtPayload> {
  const client = jwksRsa({ jwksUri, cache: false });
  const getKey: jwt.GetPublicKeyOrSecret = (header, callback) => {
    client.getSigningKey(header.kid).then(
      (signingKey) => callback(null, signingKey.getPublicKey()),
      (error: Error) => callback(error),
    );
  };
  return new Promise((resolve, reject) => {
    jwt.verify(token, getKey, { algorithms: [algorithm], issuer: "mel-identity", audience: "mel-api" }, (error, payload) =>
      error ? reject(error) : resolve(payload as jwt.JwtPayload),
    );
  });
}

for (const algorithm of ["ES256", "RS256"] as const) {
  describe(`${algorithm} tokens checked by jsonwebtoken + jwks-rsa against the served JWKS`, () => {
    let identity: TestIdentity;
    let jwks: { url: string; server: Server };

    before(async () => {
      identity = await startTestIdentity("sqlite", { MEL_IDENTITY_SIGNING_ALGORITHM: algorithm });
      jwks = await serveJwksOverHttp(identity);
    });

    after(async () => {
      jwks?.server.close();
      await identity?.stop();
    });

    it("verifies access tokens, before and after a rotation", async () => {
      const admin = await signInAdmin(identity);
      const buyer = await signUp(identity);
      const payload = await verifyWithJsonwebtoken(buyer.accessToken, jwks.url, algorithm);
      assert.equal(payload.sub, buyer.userId);
      assert.deepEqual(payload.roles, ["buyer"]);
      const rotated = await identity.call("rotateSigningKey", {}, admin.accessToken);
      assert.equal(rotated.alg, algorithm);
      const afterRotation = await identity.call("login", { email: buyer.email, password: "s3nha-de-teste" });
      assert.equal((await verifyWithJsonwebtoken(afterRotation.accessToken, jwks.url, algorithm)).sub, buyer.userId);
      assert.equal((await verifyWithJsonwebtoken(buyer.accessToken, jwks.url, algorithm)).sub, buyer.userId);
    });

    it("and rejects them when altered", async () => {
      const buyer = await signUp(identity);
      const [header, , signature] = buyer.accessToken.split(".");
      const forged = `${header}.${encodePart({ ...decodeJwt(buyer.accessToken), roles: ["admin"] })}.${signature}`;
      await assert.rejects(verifyWithJsonwebtoken(forged, jwks.url, algorithm), /invalid signature/);
    });
  });
}
