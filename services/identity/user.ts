// Accounts: what a valid email, password, display name and role look like,
// and the shape of a user inside the service. No I/O.
import { InvalidArgumentError } from "../../platform/errors/index.js";

export interface User {
  id: string;
  /** Normalised (see normaliseEmail); unique. */
  email: string;
  displayName: string;
  roles: string[];
  createTime: Date;
}

/** A user with the hash sign-in checks; never leaves the service. */
export interface UserWithPasswordHash extends User {
  passwordHash: string;
}

/** The role every new account gets. */
export const buyerRole = "buyer";
export const adminRole = "admin";

export const userLimits = {
  /** RFC 5321: a forward path is at most 256 octets including the brackets. */
  emailLength: 254,
  displayNameLength: 100,
  /** A bound on work per sign-in; far beyond any passphrase a person types. */
  passwordLength: 256,
  roleLength: 32,
} as const;

export interface PasswordPolicy {
  minLength: number;
}

/**
 * Trimmed, Unicode NFC, lower case. The whole address is lower-cased: no
 * mail provider we serve treats the local part case-sensitively, and two
 * accounts differing only by case would be a support problem.
 */
export function normaliseEmail(raw: string): string {
  return raw.trim().normalize("NFC").toLowerCase();
}

// One "@", no spaces, a dot in the domain: catches typos without pretending to implement RFC 5322.
const emailShape = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/u;

/** The normalised email, or InvalidArgumentError naming `field`. */
export function validateEmail(raw: string, field = "email"): string {
  const email = normaliseEmail(raw);
  if (email.length === 0) throw new InvalidArgumentError(field, "is required");
  if (email.length > userLimits.emailLength) throw new InvalidArgumentError(field, `must be at most ${userLimits.emailLength} characters`);
  if (!emailShape.test(email)) throw new InvalidArgumentError(field, `must be an email address such as "ana@example.com"`);
  return email;
}

export function validateNewPassword(password: string, policy: PasswordPolicy, field = "password"): void {
  const length = [...password.normalize("NFKC")].length;
  if (length < policy.minLength) throw new InvalidArgumentError(field, `must be at least ${policy.minLength} characters (got ${length})`);
  if (length > userLimits.passwordLength) throw new InvalidArgumentError(field, `must be at most ${userLimits.passwordLength} characters`);
  if (password.trim().length === 0) throw new InvalidArgumentError(field, "must not be only spaces");
}

/** A password presented at sign-in: only bounded, never checked against the policy (it may have changed since). */
export function validatePresentedPassword(password: string, field = "password"): void {
  if (password.length === 0) throw new InvalidArgumentError(field, "is required");
  if (password.length > userLimits.passwordLength * 4) throw new InvalidArgumentError(field, `must be at most ${userLimits.passwordLength} characters`);
}

/** The trimmed display name; the email's local part when none is given. */
export function validateDisplayName(raw: string, email: string, field = "display_name"): string {
  const name = raw.trim().normalize("NFC");
  if (name.length > userLimits.displayNameLength) throw new InvalidArgumentError(field, `must be at most ${userLimits.displayNameLength} characters`);
  if (/\p{Cc}/u.test(name)) throw new InvalidArgumentError(field, "must not contain control characters");
  return name.length > 0 ? name : email.slice(0, email.indexOf("@"));
}

const roleShape = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export function validateRole(raw: string, field = "role"): string {
  if (raw.length === 0) throw new InvalidArgumentError(field, `is required, e.g. "${adminRole}"`);
  if (raw.length > userLimits.roleLength || !roleShape.test(raw)) {
    throw new InvalidArgumentError(
      field,
      `must be 1 to ${userLimits.roleLength} lower-case letters, digits and inner dashes, e.g. "${adminRole}" (got "${raw}")`,
    );
  }
  return raw;
}

const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateUserId(raw: string, field = "user_id"): string {
  if (raw.length === 0) throw new InvalidArgumentError(field, "is required");
  if (!uuidShape.test(raw))
    throw new InvalidArgumentError(field, `must be a user id (a UUID such as "0b6f5c9e-2f1a-4c53-9a51-0d3c1f1e7a10"; got "${raw.slice(0, 64)}")`);
  return raw.toLowerCase();
}

/** Roles sorted and without duplicates: the order tokens and responses carry them in. */
export function sortedRoles(roles: Iterable<string>): string[] {
  return [...new Set(roles)].sort();
}
