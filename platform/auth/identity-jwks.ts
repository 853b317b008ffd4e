// The JWK Set as it travels in IdentityService.GetJwks (mel.identity.v1.Jwk,
// whose fields are RFC 7517 members) and as jose takes it.
import type { JSONWebKeySet, JWK } from "jose";
import type { GetJwksResponse, Jwk } from "../../gen/mel/identity/v1/identity.js";
import type { JwksSource } from "./key-set.js";

const members = ["kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"] as const;

/** A JWKS from GetJwks; empty proto strings mean "member absent". */
export function jwksFromProto(response: GetJwksResponse): JSONWebKeySet {
  return {
    keys: response.keys.map((key) => {
      const jwk: Record<string, string> = {};
      for (const member of members) if (key[member] !== "") jwk[member] = key[member];
      return jwk as JWK;
    }),
  };
}

/** The GetJwks response for a JWKS; only the public members the proto has can pass. */
export function jwksToProto(jwks: JSONWebKeySet): GetJwksResponse {
  return {
    keys: jwks.keys.map((key): Jwk => {
      const proto = { kty: "", kid: "", use: "", alg: "", crv: "", x: "", y: "", n: "", e: "" };
      for (const member of members) {
        const value = (key as Record<string, unknown>)[member];
        if (typeof value === "string") proto[member] = value;
      }
      return proto;
    }),
  };
}

/** A JwksSource over any GetJwks call (a platform/grpc client of IdentityService). */
export function jwksSourceFromGetJwks(getJwks: () => Promise<GetJwksResponse>): JwksSource {
  return async () => jwksFromProto(await getJwks());
}
