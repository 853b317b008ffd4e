// Access tokens: short-lived JWTs signed with the current signing key. The
// claims are what platform/auth reads on every service; keep the two in step.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { SigningKey } from "./signing-key.js";

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface AccessTokenSubject {
  userId: string;
  email: string;
  roles: string[];
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresAt: Date;
}

/**
 * RFC 9068's media type for JWT access tokens: verifiers require it, so an
 * ID token or any other JWT signed by the same key is not accepted as one.
 */
export const accessTokenType = "at+jwt";

/**
 * Signs an access token of session `sessionId` (the refresh-token family, as
 * the `sid` claim: verifiers refuse it once that session is signed out).
 */
export async function issueAccessToken(
  key: SigningKey,
  subject: AccessTokenSubject,
  sessionId: string,
  settings: AccessTokenSettings,
  now: Date,
): Promise<IssuedAccessToken> {
  const issuedAt = Math.floor(now.getTime() / 1000);
  const expiresAt = issuedAt + settings.ttlSeconds;
  const jti = randomUUID();
  const token = await new SignJWT({ email: subject.email, roles: subject.roles, sid: sessionId })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: accessTokenType })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(subject.userId)
    .setIssuedAt(issuedAt)
    .setNotBefore(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, jti, expiresAt: new Date(expiresAt * 1000) };
}
