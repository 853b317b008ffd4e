// Access-token verification with jose: signature against the trusted key set,
// an algorithm allow-list, the token type, issuer, audience and time claims
// with a small clock skew, and the session it belongs to against the sessions
// signed out since. Turns a valid token into the Principal handlers see.
import { errors, type JWTPayload, jwtVerify } from "jose";
import { ErrorReason, UnauthenticatedError, UnavailableError } from "../errors/index.js";
import type { Principal } from "../grpc/call-context.js";
import type { CachedKeySet } from "./key-set.js";
import type { SessionRevocations } from "./session-revocations.js";

/** The only algorithms a token may be signed with: asymmetric, as identity signs. Never "none" or HS*. */
export const allowedAlgorithms = ["ES256", "RS256"] as const;

/** RFC 9068 JWT access tokens carry typ "at+jwt"; any other JWT from the same keys is refused. */
export const accessTokenType = "at+jwt";

export interface TokenVerifierOptions {
  keys: Pick<CachedKeySet, "getKey">;
  /** Expected `iss`. */
  issuer: string;
  /** Expected `aud` (the token must list it). */
  audience: string;
  /** Seconds of clock difference tolerated on exp/nbf/iat. Default 30. */
  clockSkewSeconds?: number;
  /**
   * Oldest `iat` accepted, in seconds, whatever `exp` says: a ceiling far above
   * any access-token lifetime, so a token minted with a wrong lifetime still
   * dies. Also makes an `iat` in the future an error. Default one day.
   */
  maxTokenAgeSeconds?: number;
  /** Signed-out sessions: a token whose `sid` is among them is refused although it has not expired. */
  revokedSessions?: Pick<SessionRevocations, "has">;
  /** Clock for tests. */
  now?: () => Date;
}

export interface TokenVerifier {
  /** The principal of a valid token; UnauthenticatedError (or UnavailableError when keys cannot be fetched) otherwise. */
  verify(token: string): Promise<Principal>;
}

function describeFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the access token has expired; get a new one with IdentityService.Refresh or sign in again";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "the access token is not valid yet (nbf is in the future)";
    if (error.claim === "iat") return "the access token's issue time (iat) is in the future";
    return `the access token's "${error.claim}" claim is not accepted here`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return `the access token must be signed with ${allowedAlgorithms.join(" or ")}`;
  if (error instanceof errors.JWKSNoMatchingKey) return "the access token was signed by a key this service does not trust (unknown kid)";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the access token's signature does not verify";
  if (error instanceof errors.JOSEError) return "the access token is malformed";
  return "the access token could not be verified";
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** The message of a token whose session was signed out (logout, or refresh-token reuse ending it everywhere). */
export const signedOutSessionMessage = "the access token's session was signed out; sign in again";

function toPrincipal(payload: JWTPayload, token: string, revokedSessions: Pick<SessionRevocations, "has"> | undefined): Principal {
  const { sub, exp, email, roles, sid } = payload;
  if (typeof sub !== "string" || sub.length === 0) throw new UnauthenticatedError("the access token has no subject (sub)");
  // Tokens issued before sessions were named carry no sid; they expire on their own within one lifetime.
  if (sid !== undefined && (typeof sid !== "string" || sid.length === 0))
    throw new UnauthenticatedError("the access token's session id (sid) must be a non-empty string");
  if (sid !== undefined && revokedSessions?.has(sid)) throw new UnauthenticatedError(signedOutSessionMessage, { reason: ErrorReason.SESSION_SIGNED_OUT });
  if (typeof exp !== "number") throw new UnauthenticatedError("the access token has no expiry (exp)");
  if (roles !== undefined && !stringArray(roles)) throw new UnauthenticatedError("the access token's roles claim must be a list of strings");
  if (email !== undefined && typeof email !== "string") throw new UnauthenticatedError("the access token's email claim must be a string");
  return { subject: sub, ...(email === undefined ? {} : { email }), roles: roles ?? [], token, expiresAt: new Date(exp * 1000) };
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const clockTolerance = options.clockSkewSeconds ?? 30;
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(
          token,
          async (header, input) => {
            // Without a kid a verifier would have to try keys until one fits; identity always sets it.
            if (typeof header.kid !== "string" || header.kid.length === 0) throw new UnauthenticatedError("the access token has no key id (kid) in its header");
            return options.keys.getKey(header, input);
          },
          {
            algorithms: [...allowedAlgorithms],
            issuer: options.issuer,
            audience: options.audience,
            typ: accessTokenType,
            clockTolerance,
            maxTokenAge: options.maxTokenAgeSeconds ?? 24 * 3600,
            requiredClaims: ["sub", "exp", "iat", "jti"],
            ...(options.now ? { currentDate: options.now() } : {}),
          },
        );
        return toPrincipal(payload, token, options.revokedSessions);
      } catch (error) {
        if (error instanceof UnauthenticatedError || error instanceof UnavailableError) throw error;
        throw new UnauthenticatedError(describeFailure(error), {
          cause: error,
          reason: error instanceof errors.JWTExpired ? ErrorReason.TOKEN_EXPIRED : ErrorReason.TOKEN_INVALID,
        });
      }
    },
  };
}
