// IdentityService over gRPC: validates each request, maps proto ↔ domain and
// calls the account and session flows; typed errors become statuses in
// platform/grpc.
import type { Kysely } from "kysely";
import { IdentityServiceService } from "../../gen/mel/identity/v1/identity.js";
import { jwksToProto } from "../../platform/auth/index.js";
import { InvalidArgumentError, NotFoundError, UnauthenticatedError } from "../../platform/errors/index.js";
import { type Authenticate, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import { grantRole, registerAccount, revokeRole } from "./account-flow.js";
import type { IdentityDatabase } from "./identity.table.js";
import type { PasswordHasher } from "./password-hash.js";
import type { SessionFlow, TokenPair } from "./session-flow.js";
import type { SigningKeyRing } from "./signing-key-ring.js";
import {
  adminRole,
  type PasswordPolicy,
  sortedRoles,
  validateDisplayName,
  validateEmail,
  validateNewPassword,
  validatePresentedPassword,
  validateRole,
  validateUserId,
} from "./user.js";
import { userToProto } from "./user.mapper.js";
import { findUserById } from "./user.repository.js";

export interface IdentityServiceDeps {
  db: Kysely<IdentityDatabase>;
  hasher: PasswordHasher;
  sessions: SessionFlow;
  keyRing: SigningKeyRing;
  passwordPolicy: PasswordPolicy;
  authenticate: Authenticate;
  logger: Logger;
  now?: () => Date;
}

export const identityPolicies: MethodPolicies<typeof IdentityServiceService> = {
  register: "public",
  login: "public",
  refresh: "public",
  logout: "public",
  me: "authenticated",
  getJwks: "public",
  grantRole: { role: adminRole },
  revokeRole: { role: adminRole },
  rotateSigningKey: { role: adminRole },
};

const tokenType = "Bearer";

function tokenPairToProto(pair: TokenPair) {
  return { ...pair, tokenType };
}

function requireRefreshToken(value: string): string {
  if (value.length === 0) throw new InvalidArgumentError("refresh_token", "is required: the refresh_token from Login or the last Refresh");
  if (value.length > 512) throw new InvalidArgumentError("refresh_token", "is too long to be a refresh token");
  return value;
}

export function createIdentityService(deps: IdentityServiceDeps) {
  const { db, hasher, sessions, keyRing, passwordPolicy, authenticate, logger } = deps;
  const now = deps.now ?? (() => new Date());
  return implementService(
    IdentityServiceService,
    {
      async register(request) {
        const email = validateEmail(request.email);
        validateNewPassword(request.password, passwordPolicy);
        const displayName = validateDisplayName(request.displayName, email);
        const user = await registerAccount(db, hasher, { email, password: request.password, displayName }, now());
        return { user: userToProto(user) };
      },

      async login(request) {
        const email = validateEmail(request.email);
        validatePresentedPassword(request.password);
        return tokenPairToProto(await sessions.login(email, request.password));
      },

      async refresh(request) {
        return tokenPairToProto(await sessions.refresh(requireRefreshToken(request.refreshToken)));
      },

      async logout(request) {
        await sessions.logout(requireRefreshToken(request.refreshToken));
        return {};
      },

      async me(_request, ctx) {
        const principal = ctx.principal;
        if (!principal) throw new UnauthenticatedError("Me needs a bearer token");
        const user = await findUserById(db, principal.subject);
        if (!user) throw new NotFoundError(`the account ${principal.subject} of this access token no longer exists`);
        // As the token describes the caller: its roles, even if they changed since it was issued.
        const roles = sortedRoles(principal.roles);
        return { user: userToProto({ ...user, email: principal.email ?? user.email, roles }), tokenExpireTime: principal.expiresAt };
      },

      async getJwks() {
        return jwksToProto(await keyRing.jwks());
      },

      async grantRole(request, ctx) {
        const userId = validateUserId(request.userId);
        const role = validateRole(request.role);
        const user = await grantRole(db, userId, role, now());
        ctx.log.info({ userId, role, by: ctx.principal?.subject }, "role granted");
        return { user: userToProto(user) };
      },

      async revokeRole(request, ctx) {
        const userId = validateUserId(request.userId);
        const role = validateRole(request.role);
        const user = await revokeRole(db, userId, role);
        ctx.log.info({ userId, role, by: ctx.principal?.subject }, "role revoked");
        return { user: userToProto(user) };
      },

      async rotateSigningKey(_request, ctx) {
        const rotated = await keyRing.rotate();
        ctx.log.info({ kid: rotated.kid, by: ctx.principal?.subject }, "signing key rotated on request");
        return rotated;
      },
    },
    { policies: identityPolicies, authenticate, logger },
  );
}
