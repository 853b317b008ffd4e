// The `authenticate` function implementService calls before every handler:
// reads "authorization: Bearer <token>" from the call metadata and verifies it.
import type { Metadata } from "@grpc/grpc-js";
import { UnauthenticatedError } from "../errors/index.js";
import type { Principal } from "../grpc/call-context.js";
import type { Authenticate, MethodPolicy } from "../grpc/implement-service.js";
import type { TokenVerifier } from "./token-verifier.js";

/**
 * The bearer token in `metadata`, undefined when there is no authorization
 * entry; UnauthenticatedError when there is one in another form.
 */
export function bearerToken(metadata: Metadata): string | undefined {
  const values = metadata.get("authorization");
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new UnauthenticatedError("send exactly one authorization entry");
  const value = values[0];
  if (typeof value !== "string") throw new UnauthenticatedError('authorization must be text: "Bearer <access token>"');
  const match = /^Bearer[ \t]+([A-Za-z0-9_.~+/=-]+)[ \t]*$/i.exec(value);
  if (!match) throw new UnauthenticatedError('authorization must be "Bearer <access token>"');
  return match[1];
}

/**
 * Builds the Authenticate for implementService. A missing token gives
 * undefined (implementService then refuses non-public methods with
 * UNAUTHENTICATED); a bad token is refused with UNAUTHENTICATED, except on
 * public methods, where the caller is simply treated as anonymous so that a
 * stale token left on a client does not block Login or Refresh. Role checks
 * are implementService's, against the returned principal.
 */
export function createAuthenticate(verifier: TokenVerifier): Authenticate {
  return async (metadata: Metadata, policy: MethodPolicy): Promise<Principal | undefined> => {
    try {
      const token = bearerToken(metadata);
      return token === undefined ? undefined : await verifier.verify(token);
    } catch (error) {
      if (policy === "public") return undefined;
      throw error;
    }
  };
}
