// Token trust for every service: verifies "authorization: Bearer <JWT>" with
// jose against identity's JWKS (cached, refetched on an unknown kid with a
// cool-down), allowing only ES256/RS256, checking typ, iss, aud, exp, nbf and
// iat with a small clock skew, refuses tokens of signed-out sessions (sid,
// fed by SessionRevoked events and identity's list of revocations), and gives
// implementService its `authenticate`.
// Must never: accept an unsigned or symmetric-key token, trust a key that did
// not come from the configured source, log a token, or decide a method's
// policy (services declare policies; implementService enforces roles).
export { bearerToken, createAuthenticate } from "./authenticate.js";
export { jwksFromProto, jwksSourceFromGetJwks, jwksToProto } from "./identity-jwks.js";
export type { CachedKeySet, CachedKeySetOptions, JwksSource } from "./key-set.js";
export { createCachedKeySet } from "./key-set.js";
export type { SessionRevocationFeed, SessionRevocationFeedOptions } from "./session-revocation-feed.js";
export { createSessionRevokedHandler, startSessionRevocationFeed } from "./session-revocation-feed.js";
export type { SessionRevocations, SessionRevocationsOptions } from "./session-revocations.js";
export { createSessionRevocations } from "./session-revocations.js";
export type {
  IdentityJwksSource,
  IdentityJwksSourceOptions,
  RunningServiceAuthenticate,
  ServiceAuthenticate,
  TokenTrust,
  TokenTrustEnv,
  TokenTrustOptions,
} from "./token-trust.js";
export { createServiceAuthenticate, createTokenTrust, identityJwksSource, startServiceAuthenticate, whenSessionsLoaded } from "./token-trust.js";
export type { TokenVerifier, TokenVerifierOptions } from "./token-verifier.js";
export { accessTokenType, allowedAlgorithms, createTokenVerifier, signedOutSessionMessage } from "./token-verifier.js";
export { tokenClaimsEnv, tokenTrustEnv, tokenTrustFrom } from "./trust-config.js";
