// Access tokens for ordering's own tests: an ES256 key pair made per test
// file, tokens signed the way identity signs them (typ at+jwt, iss, aud, sub,
// roles), and the real platform/auth verifier trusting that key. The
// cross-service tests under test/e2e use identity itself instead.
import { randomUUID } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createAuthenticate, createCachedKeySet, createTokenVerifier } from "../../platform/auth/index.js";
import type { Authenticate } from "../../platform/grpc/index.js";

export interface TestTokens {
  authenticate: Authenticate;
  /** A bearer token for `subject` with `roles`. */
  tokenFor(subject: string, roles?: string[]): Promise<string>;
}

export const testIssuer = "mel-identity";
export const testAudience = "mel-api";

export async function createTestTokens(): Promise<TestTokens> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = `test-${randomUUID()}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const keys = createCachedKeySet(async () => ({ keys: [jwk] }));
  const authenticate = createAuthenticate(createTokenVerifier({ keys, issuer: testIssuer, audience: testAudience }));
  return {
    authenticate,
    tokenFor: (subject, roles = []) => sign(privateKey, kid, subject, roles),
  };
}

function sign(key: CryptoKey, kid: string, subject: string, roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
    .setIssuer(testIssuer)
    .setAudience(testAudience)
    .setSubject(subject)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime("10m")
    .sign(key);
}
