// Refresh tokens: opaque random strings, stored only as their SHA-256, spent
// once and replaced by a new one of the same family. Presenting a spent token
// means a copy exists somewhere else, so the whole family is revoked (OAuth 2.0
// Security BCP, refresh token rotation). No I/O.
import { createHash, randomBytes } from "node:crypto";

export interface RefreshTokenRecord {
  id: string;
  familyId: string;
  userId: string;
  expireTime: Date;
  spentTime: Date | undefined;
  revokeTime: Date | undefined;
}

/** 256 random bits, base64url: unguessable, so a fast hash (not a password hash) is enough to store it. */
export function newRefreshTokenSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function hashRefreshToken(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** What presenting a stored token means. */
export type RefreshTokenState = "usable" | "expired" | "revoked" | "spent";

export function refreshTokenState(record: RefreshTokenRecord, now: Date): RefreshTokenState {
  // Order matters: a spent token is reuse even when it has also expired or been revoked since,
  // and reuse must revoke the family (a no-op when it already is).
  if (record.spentTime !== undefined) return "spent";
  if (record.revokeTime !== undefined) return "revoked";
  if (record.expireTime.getTime() <= now.getTime()) return "expired";
  return "usable";
}

const tokenShape = /^[A-Za-z0-9_-]{43}$/;

/** True when `secret` could be a token we issued; others are refused without a database read. */
export function looksLikeRefreshToken(secret: string): boolean {
  return tokenShape.test(secret);
}
