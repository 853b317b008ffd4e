// Sign-in throttling: after `maxFailures` failed sign-ins within `windowSeconds`
// a key is locked for `lockoutSeconds`. Keys are the normalised email (whether
// or not an account has it, so a lockout says nothing about existence) and the
// account id (so it holds even if the email changes). No I/O.

export interface LoginThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
  lockoutSeconds: number;
}

export interface LoginThrottleState {
  key: string;
  failureCount: number;
  windowStart: Date;
  lockedUntil: Date | undefined;
}

export function emailThrottleKey(normalisedEmail: string): string {
  return `email:${normalisedEmail}`;
}

export function accountThrottleKey(userId: string): string {
  return `account:${userId}`;
}

/** Seconds until `state` lets a sign-in through again; 0 when it is not locked. */
export function lockedForSeconds(state: LoginThrottleState | undefined, now: Date): number {
  if (state?.lockedUntil === undefined) return 0;
  const remainingMs = state.lockedUntil.getTime() - now.getTime();
  return remainingMs > 0 ? Math.ceil(remainingMs / 1000) : 0;
}

/** True when `failureCount` failures in the window must lock the key. */
export function shouldLock(failureCount: number, policy: LoginThrottlePolicy): boolean {
  return failureCount >= policy.maxFailures;
}
