// The signed-out sessions a verifier refuses, in memory: session id → when the
// entry can go. Every access token of a session expires by its
// accessExpireTime, and the verifier accepts none later than that plus its
// clock tolerance, so the entry is kept that long and no longer: the set holds
// only the sessions signed out within one access-token lifetime. No I/O; the
// feed (session-revocation-feed.ts) fills it.

export interface SessionRevocationsOptions {
  /** Kept past accessExpireTime by this much: the verifier's clock tolerance on exp. */
  graceMs: number;
  /** How often the whole set is swept of expired entries (an entry looked up is checked anyway). Default 60 s. */
  sweepIntervalMs?: number;
  /** Milliseconds clock, for tests. */
  clock?: () => number;
}

export interface SessionRevocations {
  /** Refuses `sessionId` until `accessExpireTime` (plus grace); a later expiry for the same session extends it. */
  add(sessionId: string, accessExpireTime: Date): void;
  has(sessionId: string): boolean;
  /** Entries not expired yet. */
  readonly size: number;
}

export function createSessionRevocations(options: SessionRevocationsOptions): SessionRevocations {
  const clock = options.clock ?? Date.now;
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const forgetAt = new Map<string, number>();
  let nextSweep = clock() + sweepIntervalMs;

  function sweep(now: number, force = false): void {
    if (!force && now < nextSweep) return;
    nextSweep = now + sweepIntervalMs;
    for (const [sessionId, until] of forgetAt) if (until <= now) forgetAt.delete(sessionId);
  }

  return {
    add(sessionId, accessExpireTime) {
      const now = clock();
      sweep(now);
      const until = accessExpireTime.getTime() + options.graceMs;
      if (until <= now) return;
      forgetAt.set(sessionId, Math.max(until, forgetAt.get(sessionId) ?? 0));
    },
    has(sessionId) {
      const until = forgetAt.get(sessionId);
      if (until === undefined) return false;
      const now = clock();
      sweep(now);
      if (until > now) return true;
      forgetAt.delete(sessionId);
      return false;
    },
    get size() {
      sweep(clock(), true);
      return forgetAt.size;
    },
  };
}
