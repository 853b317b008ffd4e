// Sign-in sessions: Login, Refresh and Logout as the service runs them, each a
// short sequence of repository calls around the rules in login-throttle.ts and
// refresh-token.ts. A session is one refresh-token family: created at sign-in,
// extended by each refresh, ended by logout or by reuse of a spent token. Its
// id is the `sid` of its access tokens; ending it records the revocation and a
// SessionRevoked event in the same transaction, so every service refuses those
// tokens from then on, not only once they expire.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { SessionRevocationReason, SessionRevoked } from "../../gen/mel/events/v1/identity_events.js";
import type { SessionRevocations } from "../../platform/auth/index.js";
import { ErrorReason, ResourceExhaustedError, UnauthenticatedError } from "../../platform/errors/index.js";
import { addToOutbox, type OutboxRelay } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import { type AccessTokenSettings, issueAccessToken } from "./access-token.js";
import type { IdentityDatabase } from "./identity.table.js";
import { accountThrottleKey, emailThrottleKey, type LoginThrottlePolicy, lockedForSeconds } from "./login-throttle.js";
import { clearLoginThrottles, findLoginThrottles, recordLoginFailure } from "./login-throttle.repository.js";
import type { PasswordHasher } from "./password-hash.js";
import { hashRefreshToken, looksLikeRefreshToken, newRefreshTokenSecret, refreshTokenState } from "./refresh-token.js";
import { findRefreshTokenByHash, insertRefreshToken, revokeRefreshTokenFamily, spendRefreshToken } from "./refresh-token.repository.js";
import { insertSessionRevocation } from "./session-revocation.repository.js";
import type { SigningKey } from "./signing-key.js";
import type { SigningKeyRing } from "./signing-key-ring.js";
import type { User } from "./user.js";
import { findUserByEmail, findUserById, updatePasswordHash } from "./user.repository.js";

type Db = Kysely<IdentityDatabase>;

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** Seconds until the refresh token expires. */
  refreshExpiresIn: number;
}

export interface SessionFlowDeps {
  db: Db;
  hasher: PasswordHasher;
  keyRing: SigningKeyRing;
  tokens: AccessTokenSettings & { refreshTtlSeconds: number };
  loginThrottle: LoginThrottlePolicy;
  /** Woken after a commit that added a SessionRevoked event to the outbox. */
  relay: Pick<OutboxRelay, "notify">;
  /** This instance's own refusals: told at once, without waiting for its event to come round. */
  revokedSessions: Pick<SessionRevocations, "add">;
  logger: Logger;
  now?: () => Date;
}

export interface SessionFlow {
  /** Email must be normalised already. */
  login(email: string, password: string): Promise<TokenPair>;
  refresh(refreshToken: string): Promise<TokenPair>;
  /** Ends the session the token belongs to; an unknown token is not an error (sign-out is idempotent). */
  logout(refreshToken: string): Promise<void>;
}

/** One message for a wrong password and an unknown email, so failures say nothing about who has an account. */
export const badCredentialsMessage = "the email or password is not correct";
const invalidRefreshMessage = "the refresh token is not valid; sign in again";

export function createSessionFlow(deps: SessionFlowDeps): SessionFlow {
  const { db, hasher, keyRing, tokens, loginThrottle, relay, revokedSessions, logger } = deps;
  const now = deps.now ?? (() => new Date());

  /** Adds a refresh token to `familyId` and signs an access token for `user`. */
  async function issue(trx: Db, key: SigningKey, user: User, familyId: string, at: Date): Promise<TokenPair> {
    const refreshToken = newRefreshTokenSecret();
    const refreshExpireTime = new Date(at.getTime() + tokens.refreshTtlSeconds * 1000);
    await insertRefreshToken(
      trx,
      { id: randomUUID(), tokenHash: hashRefreshToken(refreshToken), familyId, userId: user.id, expireTime: refreshExpireTime },
      at,
    );
    const access = await issueAccessToken(key, { userId: user.id, email: user.email, roles: user.roles }, familyId, tokens, at);
    return { accessToken: access.token, refreshToken, expiresIn: tokens.ttlSeconds, refreshExpiresIn: tokens.refreshTtlSeconds };
  }

  /**
   * Ends session `familyId`: revokes its refresh tokens and, when that ended
   * it now (not at an earlier logout), records the revocation and its event.
   * Returns how many refresh tokens were revoked.
   */
  async function endSession(familyId: string, userId: string, reason: SessionRevocationReason, at: Date): Promise<number> {
    // Every access token of the session was issued by now with this lifetime, so none outlives this.
    const accessExpireTime = new Date(at.getTime() + tokens.ttlSeconds * 1000);
    const revoked = await db.transaction().execute(async (trx) => {
      const count = await revokeRefreshTokenFamily(trx, familyId, at);
      if (count === 0) return 0;
      await insertSessionRevocation(trx, { sessionId: familyId, userId, revokeTime: at, accessExpireTime });
      await addToOutbox(trx, SessionRevoked, { sessionId: familyId, userId, revokeTime: at, accessExpireTime, reason }, { now: at });
      return count;
    });
    if (revoked > 0) {
      revokedSessions.add(familyId, accessExpireTime);
      relay.notify();
    }
    return revoked;
  }

  async function revokeForReuse(familyId: string, userId: string, at: Date): Promise<never> {
    const revoked = await endSession(familyId, userId, SessionRevocationReason.SESSION_REVOCATION_REASON_REFRESH_TOKEN_REUSED, at);
    logger.warn({ userId, familyId, revoked }, "a spent refresh token was presented again: its session is revoked");
    throw new UnauthenticatedError("this refresh token was already used, so its session has been signed out everywhere; sign in again", {
      reason: ErrorReason.REFRESH_TOKEN_REUSED,
    });
  }

  return {
    async login(email, password) {
      const at = now();
      const user = await findUserByEmail(db, email);
      const keys = user ? [emailThrottleKey(email), accountThrottleKey(user.id)] : [emailThrottleKey(email)];
      const lockedFor = Math.max(0, ...(await findLoginThrottles(db, keys)).map((state) => lockedForSeconds(state, at)));
      if (lockedFor > 0) {
        // Unknown emails are counted and locked alike, so this says nothing about whether the account exists.
        throw new ResourceExhaustedError(`too many failed sign-ins for this email; try again in ${lockedFor} seconds`, {
          reason: ErrorReason.LOGIN_LOCKED_OUT,
          retryDelayMs: lockedFor * 1000,
        });
      }
      const matches = user ? await hasher.verify(password, user.passwordHash) : await hasher.verifyDummy(password);
      if (!user || !matches) {
        for (const key of keys) await recordLoginFailure(db, key, at, loginThrottle);
        throw new UnauthenticatedError(badCredentialsMessage, { reason: ErrorReason.CREDENTIALS_INVALID });
      }
      await clearLoginThrottles(db, keys);
      if (hasher.needsRehash(user.passwordHash)) {
        // The configured cost went up since this hash was made: upgrade it while the password is at hand.
        await updatePasswordHash(db, user.id, await hasher.hash(password), at);
      }
      const key = await keyRing.currentKey();
      return db.transaction().execute((trx) => issue(trx, key, user, randomUUID(), at));
    },

    async refresh(refreshToken) {
      const at = now();
      if (!looksLikeRefreshToken(refreshToken)) throw new UnauthenticatedError(invalidRefreshMessage, { reason: ErrorReason.REFRESH_TOKEN_INVALID });
      const record = await findRefreshTokenByHash(db, hashRefreshToken(refreshToken));
      if (!record) throw new UnauthenticatedError(invalidRefreshMessage, { reason: ErrorReason.REFRESH_TOKEN_INVALID });
      switch (refreshTokenState(record, at)) {
        case "spent":
          return revokeForReuse(record.familyId, record.userId, at);
        case "revoked":
          throw new UnauthenticatedError("the refresh token was revoked (its session was signed out); sign in again", {
            reason: ErrorReason.REFRESH_TOKEN_INVALID,
          });
        case "expired":
          throw new UnauthenticatedError("the refresh token has expired; sign in again", { reason: ErrorReason.REFRESH_TOKEN_EXPIRED });
        case "usable":
          break;
      }
      // Fetched before the transaction: on SQLite a query outside it would wait for its single connection.
      const key = await keyRing.currentKey();
      const outcome = await db.transaction().execute(async (trx) => {
        if (!(await spendRefreshToken(trx, record.id, at))) return "lost-race" as const;
        const user = await findUserById(trx, record.userId);
        return user ? issue(trx, key, user, record.familyId, at) : ("no-user" as const);
      });
      // Two presentations of one token at once: one of them is a copy, and we cannot tell which.
      if (outcome === "lost-race") return revokeForReuse(record.familyId, record.userId, at);
      if (outcome === "no-user")
        throw new UnauthenticatedError("the account of this refresh token no longer exists", { reason: ErrorReason.REFRESH_TOKEN_INVALID });
      return outcome;
    },

    async logout(refreshToken) {
      if (!looksLikeRefreshToken(refreshToken)) return;
      const record = await findRefreshTokenByHash(db, hashRefreshToken(refreshToken));
      if (record) await endSession(record.familyId, record.userId, SessionRevocationReason.SESSION_REVOCATION_REASON_SIGNED_OUT, now());
    },
  };
}
