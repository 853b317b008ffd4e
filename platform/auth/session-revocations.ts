// The signed-out sessions a verifier refuses, in memory: session id → when the
// entry can go. Every access token of a session expires by its
// accessExpireTime, and the verifier accepts none later than that plus its
// clock tolerance, so the entry is kept that long and no longer: the set holds
// only the sessions signed out within one access-token lifetime. No I/O; the
// feed (session-revocation-feed.ts) fills it. Until the sessions signed out
// before this instance started are loaded, it cannot tell, and says so.
import { UnavailableError } from "../errors/index.js";

export interface SessionRevocationsOptions {
  /** Kept past accessExpireTime by this much: the verifier's clock tolerance on exp. */
  graceMs: number;
  /** How often the whole set is swept of expired entries (an entry looked up is checked anyway). Default 60 s. */
  sweepIntervalMs?: number;
  /** False when earlier revocations are still to be loaded: has() refuses to answer until markLoaded(). Default true. */
  loaded?: boolean;
  /** Milliseconds clock, for tests. */
  clock?: () => number;
}

export interface SessionRevocations {
  /** Refuses `sessionId` until `accessExpireTime` (plus grace); a later expiry for the same session extends it. */
  add(sessionId: string, accessExpireTime: Date): void;
  /** Whether `sessionId` is signed out; UnavailableError while the earlier revocations are not loaded. */
  has(sessionId: string): boolean;
  /** The earlier revocations are in: has() answers from now on. */
  markLoaded(): void;
  readonly loaded: boolean;
  /** Resolves once loaded (at once when it already is): what a server waits on before it reports itself ready. */
  whenLoaded(): Promise<void>;
  /** Entries not expired yet. */
  readonly size: number;
}

export function createSessionRevocations(options: SessionRevocationsOptions): SessionRevocations {
  const clock = options.clock ?? Date.now;
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const forgetAt = new Map<string, number>();
  let nextSweep = clock() + sweepIntervalMs;
  let loaded = options.loaded ?? true;
  let announceLoaded: () => void = () => {};
  const loadedOnce = loaded ? Promise.resolve() : new Promise<void>((resolve) => (announceLoaded = resolve));

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
      if (!loaded) throw new UnavailableError("the signed-out sessions are not loaded from identity yet; try again shortly");
      const until = forgetAt.get(sessionId);
      if (until === undefined) return false;
      const now = clock();
      sweep(now);
      if (until > now) return true;
      forgetAt.delete(sessionId);
      return false;
    },
    markLoaded() {
      loaded = true;
      announceLoaded();
    },
    get loaded() {
      return loaded;
    },
    whenLoaded: () => loadedOnce,
    get size() {
      sweep(clock(), true);
      return forgetAt.size;
    },
  };
}
