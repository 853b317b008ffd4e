// SessionRevocationService over gRPC: the signed-out sessions whose access
// tokens are still valid, for service instances loading them before they
// serve. Not routed by the gateway; callers are the mesh's own services, which
// hold no token of their own, hence "public" here.
import type { Kysely } from "kysely";
import { type SessionRevocation, SessionRevocationServiceService } from "../../gen/mel/identity/v1/session_revocations.js";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { type Authenticate, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { IdentityDatabase } from "./identity.table.js";
import { listSessionRevocations, type SessionRevocationRecord } from "./session-revocation.repository.js";

export interface SessionRevocationServiceDeps {
  db: Kysely<IdentityDatabase>;
  authenticate: Authenticate;
  /** Verifiers accept a token this long past its exp, so its revocation is listed that much longer. */
  clockSkewSeconds: number;
  logger: Logger;
  now?: () => Date;
}

export const sessionRevocationPolicies: MethodPolicies<typeof SessionRevocationServiceService> = {
  listSessionRevocations: "public",
};

const defaultPageSize = 1000;
const maxPageSize = 5000;

function pageSizeOf(value: number): number {
  if (value < 0) throw new InvalidArgumentError("page_size", `must be 0 (the default, ${defaultPageSize}) or positive, got ${value}`);
  return value === 0 ? defaultPageSize : Math.min(value, maxPageSize);
}

// The page token is the last session id of the previous page, base64url so callers treat it as opaque.
const sessionIdShape = /^[0-9a-f-]{36}$/;

function afterSessionIdOf(pageToken: string): string {
  if (pageToken === "") return "";
  const sessionId = Buffer.from(pageToken, "base64url").toString("utf8");
  if (!sessionIdShape.test(sessionId))
    throw new InvalidArgumentError("page_token", "is not a next_page_token of ListSessionRevocations; leave it empty for the first page");
  return sessionId;
}

function revocationToProto(revocation: SessionRevocationRecord): SessionRevocation {
  return {
    sessionId: revocation.sessionId,
    userId: revocation.userId,
    revokeTime: revocation.revokeTime,
    accessExpireTime: revocation.accessExpireTime,
  };
}

export function createSessionRevocationService(deps: SessionRevocationServiceDeps) {
  const { db, authenticate, logger } = deps;
  const now = deps.now ?? (() => new Date());
  return implementService(
    SessionRevocationServiceService,
    {
      async listSessionRevocations(request) {
        const pageSize = pageSizeOf(request.pageSize);
        const validAfter = new Date(now().getTime() - deps.clockSkewSeconds * 1000);
        const rows = await listSessionRevocations(db, validAfter, afterSessionIdOf(request.pageToken), pageSize);
        const last = rows.at(-1);
        return {
          revocations: rows.map(revocationToProto),
          nextPageToken: rows.length === pageSize && last ? Buffer.from(last.sessionId, "utf8").toString("base64url") : "",
        };
      },
    },
    { policies: sessionRevocationPolicies, authenticate, logger },
  );
}
