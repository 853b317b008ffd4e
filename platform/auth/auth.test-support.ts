// Shared setup for platform/auth's tests: signing keys made with jose, a JWKS
// of their public parts, and tokens signed the way identity signs them (or
// deliberately not, for the attack tests).
import { randomUUID } from "node:crypto";
import { base64url, type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK, SignJWT } from "jose";

export const testIssuer = "mel-identity-test";
export const testAudience = "mel-api-test";

export interface TestSigningKey {
  kid: string;
  alg: "ES256" | "RS256";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function createTestSigningKey(alg: "ES256" | "RS256" = "ES256", kid: string = randomUUID()): Promise<TestSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

export function jwksOf(...keys: TestSigningKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

export interface TokenOverrides {
  header?: Record<string, unknown>;
  /** Claims to set; `undefined` removes a default claim from the token. */
  claims?: { [claim: string]: unknown };
  /** Seconds from now. */
  expiresIn?: number;
  /** Seconds from now (negative = in the past). */
  issuedAt?: number;
  notBefore?: number;
}

/** A token as identity issues it: typ at+jwt, kid, iss, aud, sub, iat, nbf, exp, jti, email, roles. */
export async function signTestToken(key: TestSigningKey, overrides: TokenOverrides = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: testIssuer,
    aud: testAudience,
    sub: "0b6f5c9e-2f1a-4c53-9a51-0d3c1f1e7a10",
    iat: now + (overrides.issuedAt ?? 0),
    nbf: now + (overrides.notBefore ?? 0),
    exp: now + (overrides.expiresIn ?? 600),
    jti: randomUUID(),
    email: "ana@example.com",
    roles: ["buyer"],
    ...overrides.claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt", ...overrides.header } as { alg: string })
    .sign(key.privateKey);
}

/** `token` with its payload replaced (signature kept): what a tamperer produces. */
export function withPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split(".");
  return [header, base64url.encode(JSON.stringify(payload)), signature].join(".");
}

/** An unsigned JWT ("alg": "none"). */
export function unsignedToken(payload: Record<string, unknown>, kid: string): string {
  const header = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt", kid }));
  return `${header}.${base64url.encode(JSON.stringify(payload))}.`;
}

export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]!))) as Record<string, unknown>;
}
