// The environment variables about token trust, as zod fields to spread into a
// service's config schema, so every service reads the same names.
import { address, durationMs, text } from "../config/index.js";
import type { TokenTrustEnv } from "./token-trust.js";

/** What a token must say to be accepted, shared by identity (which issues) and every verifier. */
export const tokenClaimsEnv = {
  /** `iss` of access tokens. */
  MEL_TOKEN_ISSUER: text("mel-identity"),
  /** `aud` of access tokens: the mesh's APIs as one audience. */
  MEL_TOKEN_AUDIENCE: text("mel-api"),
  /** Clock difference tolerated on exp/nbf/iat. */
  MEL_TOKEN_CLOCK_SKEW: durationMs(30_000),
};

/** Everything a service that verifies tokens needs, including where identity answers GetJwks. */
export const tokenTrustEnv = {
  ...tokenClaimsEnv,
  MEL_IDENTITY_ADDRESS: address("127.0.0.1:50051"),
  /** Keys are fetched again after this long. */
  MEL_JWKS_MAX_AGE: durationMs(5 * 60_000),
  /** Least time between fetches caused by an unknown kid. */
  MEL_JWKS_UNKNOWN_KID_COOLDOWN: durationMs(10_000),
};

/** The token-trust variables out of a service's parsed config, for createServiceAuthenticate. */
export function tokenTrustFrom(parsed: TokenTrustEnv): TokenTrustEnv {
  return {
    MEL_TOKEN_ISSUER: parsed.MEL_TOKEN_ISSUER,
    MEL_TOKEN_AUDIENCE: parsed.MEL_TOKEN_AUDIENCE,
    MEL_TOKEN_CLOCK_SKEW: parsed.MEL_TOKEN_CLOCK_SKEW,
    MEL_IDENTITY_ADDRESS: parsed.MEL_IDENTITY_ADDRESS,
    MEL_JWKS_MAX_AGE: parsed.MEL_JWKS_MAX_AGE,
    MEL_JWKS_UNKNOWN_KID_COOLDOWN: parsed.MEL_JWKS_UNKNOWN_KID_COOLDOWN,
  };
}
