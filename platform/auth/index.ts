// Token trust for every service: verifies "authorization: Bearer <JWT>" with
// jose against identity's JWKS (cached, refetched on an unknown kid with a
// cool-down), allowing only ES256/RS256, checking typ, iss, aud, exp, nbf and
// iat with a small clock skew, and gives implementService its `authenticate`.
// Must never: accept an unsigned or symmetric-key token, trust a key that did
// not come from the configured source, log a token, or decide a method's
// policy (services declare policies; implementService enforces roles).
export { bearerToken, createAuthenticate } from "./authenticate.js";
export { jwksFromProto, jwksSourceFromGetJwks, jwksToProto } from "./identity-jwks.js";
export type { CachedKeySet, CachedKeySetOptions, JwksSource } from "./key-set.js";
export { createCachedKeySet } from "./key-set.js";
export type { IdentityJwksSource, IdentityJwksSourceOptions, ServiceAuthenticate, TokenTrust, TokenTrustEnv, TokenTrustOptions } from "./token-trust.js";
export { createServiceAuthenticate, createTokenTrust, identityJwksSource } from "./token-trust.js";
export type { TokenVerifier, TokenVerifierOptions } from "./token-verifier.js";
export { accessTokenType, allowedAlgorithms, createTokenVerifier } from "./token-verifier.js";
export { tokenClaimsEnv, tokenTrustEnv, tokenTrustFrom } from "./trust-config.js";
