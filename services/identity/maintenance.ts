// Identity's periodic work: scheduled key rotation, removal of keys no token
// can need, and forgetting expired refresh tokens and idle throttle rows.
// One timer, unref'ed, each run logged on failure and never overlapping.
import type { Kysely } from "kysely";
import type { Logger } from "../../platform/log/index.js";
import type { IdentityDatabase } from "./identity.table.js";
import { deleteLoginThrottlesIdleSince } from "./login-throttle.repository.js";
import { deleteRefreshTokensExpiredBefore } from "./refresh-token.repository.js";
import { deleteSessionRevocationsExpiredBefore } from "./session-revocation.repository.js";
import type { SigningKeyRing } from "./signing-key-ring.js";

export interface MaintenanceOptions {
  db: Kysely<IdentityDatabase>;
  keyRing: SigningKeyRing;
  /** A new signing key this often; 0 = only on demand. */
  keyRotationIntervalMs: number;
  /** Throttle rows idle this long are dropped (the failure window). */
  throttleWindowMs: number;
  logger: Logger;
  /** How often to look; by default a tenth of the rotation interval, between 1 s and 1 min. */
  checkEveryMs?: number;
  now?: () => Date;
}

export interface Maintenance {
  /** One pass now (also what the timer runs). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/** Spent and expired refresh tokens are kept this long after expiry, so late reuse is still recognised as reuse. */
const refreshTokenRetentionMs = 24 * 3_600_000;

/** Revocations are kept this long after their tokens expired: far beyond any verifier's clock tolerance, after which no verifier needs them. */
const sessionRevocationRetentionMs = 3_600_000;

export function startMaintenance(options: MaintenanceOptions): Maintenance {
  const { db, keyRing, logger } = options;
  const now = options.now ?? (() => new Date());
  const checkEveryMs =
    options.checkEveryMs ?? (options.keyRotationIntervalMs > 0 ? Math.min(60_000, Math.max(1_000, Math.floor(options.keyRotationIntervalMs / 10))) : 60_000);
  let running: Promise<void> | undefined;

  async function pass(): Promise<void> {
    if (options.keyRotationIntervalMs > 0) await keyRing.rotateIfOlderThan(options.keyRotationIntervalMs);
    await keyRing.prune();
    const at = now();
    await deleteRefreshTokensExpiredBefore(db, new Date(at.getTime() - refreshTokenRetentionMs));
    await deleteSessionRevocationsExpiredBefore(db, new Date(at.getTime() - sessionRevocationRetentionMs));
    await deleteLoginThrottlesIdleSince(db, new Date(at.getTime() - options.throttleWindowMs), at);
  }

  function runOnce(): Promise<void> {
    running ??= pass()
      .catch((error: unknown) => logger.error({ err: error }, "identity maintenance failed; retrying at the next check"))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  const timer = setInterval(() => void runOnce(), checkEveryMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
