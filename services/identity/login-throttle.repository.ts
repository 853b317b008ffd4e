// SQL for sign-in throttling. Counting is done with conditional UPDATEs
// (reset-if-stale, then increment) rather than read-modify-write, so parallel
// guesses against one account cannot slip past the limit by racing.
import type { Kysely } from "kysely";
import { isUniqueViolation } from "../../platform/sql/index.js";
import type { IdentityDatabase, IdentityLoginThrottleRow } from "./identity.table.js";
import { type LoginThrottlePolicy, type LoginThrottleState, shouldLock } from "./login-throttle.js";

type Db = Kysely<IdentityDatabase>;

function rowToState(row: IdentityLoginThrottleRow): LoginThrottleState {
  return {
    key: row.throttle_key,
    failureCount: row.failure_count,
    windowStart: new Date(row.window_start),
    lockedUntil: row.locked_until === null ? undefined : new Date(row.locked_until),
  };
}

export async function findLoginThrottles(db: Db, keys: string[]): Promise<LoginThrottleState[]> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom("identity_login_throttle").selectAll().where("throttle_key", "in", keys).execute();
  return rows.map(rowToState);
}

/**
 * Counts one failed sign-in for `key` and locks it once the policy says so.
 * Failures older than the window are forgotten first. Returns the state after.
 */
export async function recordLoginFailure(db: Db, key: string, now: Date, policy: LoginThrottlePolicy): Promise<LoginThrottleState> {
  const time = now.toISOString();
  const staleBefore = new Date(now.getTime() - policy.windowSeconds * 1000).toISOString();
  for (let attempt = 0; attempt < 3; attempt++) {
    // A stale window (and any lock that has run out) starts over at one failure.
    const reset = await db
      .updateTable("identity_login_throttle")
      .set({ failure_count: 1, window_start: time, locked_until: null })
      .where("throttle_key", "=", key)
      .where("window_start", "<=", staleBefore)
      .where((eb) => eb.or([eb("locked_until", "is", null), eb("locked_until", "<=", time)]))
      .executeTakeFirst();
    if (Number(reset.numUpdatedRows) === 0) {
      const counted = await db
        .updateTable("identity_login_throttle")
        .set((eb) => ({ failure_count: eb("failure_count", "+", 1) }))
        .where("throttle_key", "=", key)
        .executeTakeFirst();
      if (Number(counted.numUpdatedRows) === 0) {
        try {
          await db.insertInto("identity_login_throttle").values({ throttle_key: key, failure_count: 1, window_start: time, locked_until: null }).execute();
        } catch (error) {
          // Another failure for the same key inserted first: count ours on the row it made.
          if (isUniqueViolation(error)) continue;
          throw error;
        }
      }
    }
    const row = await db.selectFrom("identity_login_throttle").selectAll().where("throttle_key", "=", key).executeTakeFirstOrThrow();
    const state = rowToState(row);
    if (!shouldLock(state.failureCount, policy)) return state;
    // Locked: the count starts again for when the lock runs out.
    const lockedUntil = new Date(now.getTime() + policy.lockoutSeconds * 1000).toISOString();
    await db
      .updateTable("identity_login_throttle")
      .set({ locked_until: lockedUntil, failure_count: 0, window_start: time })
      .where("throttle_key", "=", key)
      .execute();
    return { key, failureCount: 0, windowStart: now, lockedUntil: new Date(lockedUntil) };
  }
  throw new Error(`could not record a failed sign-in for throttle key ${key} after 3 attempts`);
}

/** Forgets failures after a successful sign-in. */
export async function clearLoginThrottles(db: Db, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.deleteFrom("identity_login_throttle").where("throttle_key", "in", keys).execute();
}

/** Housekeeping: drops rows whose window and lock are both over. */
export async function deleteLoginThrottlesIdleSince(db: Db, cutoff: Date, now: Date): Promise<number> {
  const result = await db
    .deleteFrom("identity_login_throttle")
    .where("window_start", "<", cutoff.toISOString())
    .where((eb) => eb.or([eb("locked_until", "is", null), eb("locked_until", "<=", now.toISOString())]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
