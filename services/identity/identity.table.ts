// Kysely row types of identity's tables (migrations/ creates them).
import type { Selectable } from "kysely";
import type { MessagingTables } from "../../platform/events/index.js";

/** Times are ISO-8601 UTC strings: one representation every dialect stores and sorts alike. */
type TimeColumn = string;

export interface IdentityUserTable {
  id: string;
  /** normaliseEmail(email); unique. */
  email: string;
  display_name: string;
  /** PHC-style scrypt string (password-hash.ts); never leaves the service. */
  password_hash: string;
  create_time: TimeColumn;
  update_time: TimeColumn;
}

export interface IdentityUserRoleTable {
  user_id: string;
  role: string;
  grant_time: TimeColumn;
}

export interface IdentityRefreshTokenTable {
  id: string;
  /** SHA-256 (hex) of the opaque token; the token itself is never stored. */
  token_hash: string;
  /** Every token rotated from one sign-in shares it; reuse revokes the family. */
  family_id: string;
  user_id: string;
  create_time: TimeColumn;
  expire_time: TimeColumn;
  spent_time: TimeColumn | null;
  revoke_time: TimeColumn | null;
}

export interface IdentitySigningKeyTable {
  kid: string;
  alg: string;
  /** JSON of the public JWK (public members, kid, alg, use). */
  public_jwk: string;
  /** The private JWK sealed with AES-256-GCM (signing-key.ts sealPrivateJwk). */
  sealed_private_jwk: string;
  create_time: TimeColumn;
  /** Set when a newer key takes over signing; null for the current key. */
  retire_time: TimeColumn | null;
  /** After this no token the key signed can still be valid: it leaves the JWKS and is deleted. */
  verify_until: TimeColumn | null;
}

export interface IdentityLoginThrottleTable {
  throttle_key: string;
  failure_count: number;
  window_start: TimeColumn;
  locked_until: TimeColumn | null;
}

export interface IdentitySessionRevocationTable {
  /** The refresh-token family id: the `sid` of the session's access tokens. */
  session_id: string;
  user_id: string;
  revoke_time: TimeColumn;
  /** No access token of the session is valid after this; the row can go then. */
  access_expire_time: TimeColumn;
}

export interface IdentityDatabase extends MessagingTables {
  identity_user: IdentityUserTable;
  identity_user_role: IdentityUserRoleTable;
  identity_refresh_token: IdentityRefreshTokenTable;
  identity_signing_key: IdentitySigningKeyTable;
  identity_login_throttle: IdentityLoginThrottleTable;
  identity_session_revocation: IdentitySessionRevocationTable;
}

export type IdentityUserRow = Selectable<IdentityUserTable>;
export type IdentityRefreshTokenRow = Selectable<IdentityRefreshTokenTable>;
export type IdentitySigningKeyRow = Selectable<IdentitySigningKeyTable>;
export type IdentityLoginThrottleRow = Selectable<IdentityLoginThrottleTable>;
export type IdentitySessionRevocationRow = Selectable<IdentitySessionRevocationTable>;
