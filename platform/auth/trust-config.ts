// The environment variables about token trust, as zod fields to spread into a
// service's config schema, so every service reads the same names.
import { address, durationMs, text } from "../config/index.js";

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
