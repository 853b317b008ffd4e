// Write claims: how a writer becomes the only one moving a document off a
// revision on a server whose conditional updates are not atomic. On MongoDB a
// filter on the revision is enough; FerretDB v1 reads the matching document
// and writes it back whole by _id in two steps, so two writers filtering on
// the same revision can both "match" and one change is lost silently,
// whatever fields each set. Inserts under a unique index are atomic there, so
// a writer first inserts a claim on (document, revision) and writes only if
// the insert succeeded. No library does this for FerretDB, hence this file.
//
// A claim is a lease in real time, not in business time. A writer that died
// leaves its claim behind, and after abandonedClaimMs another writer takes it
// over. That is safe only if the holder's write has landed by then, so a
// holder that needed longer than claimFenceMs to get its claim gives it up
// instead of writing, and its write has the rest of the lease to land. A
// writer that finds a live claim waits until it is gone (rather than failing
// at once), so a document whose writer crashed mid-write is written again as
// soon as the lease allows.
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Model, mongo } from "mongoose";
import { isDuplicateKey } from "./errors.js";

/**
 * A claim older than this was left by a writer that died between its claim and
 * its write. Long against a write's latency on a loaded server, since taking
 * over the claim of a writer that is only slow loses its change.
 */
export const abandonedClaimMs = 15_000;
/** A holder that needed longer than this to get its claim does not write with it. */
export const claimFenceMs = 5000;
/** How often a writer waiting on another's claim looks again. */
const claimPollMs = 25;

/** What every claim document holds besides its key fields. */
export interface WriteClaimFields {
  claimedAt: Date;
  /** host:pid of the writing process, so a claim taken over names who left it. */
  holder?: string | undefined;
}

/** A claim this process holds. */
export interface WriteClaim {
  id: mongo.ObjectId;
  /** Date.now() when it was inserted. */
  claimedAt: number;
}

export interface AbandonedClaim {
  key: Record<string, string | number>;
  ageMs: number;
  holder: string | undefined;
}

export interface WriteClaims {
  /**
   * Claims `key` (the document and the revision it moves off). Resolves with
   * the claim, or with null once another writer's claim on it is gone or was
   * abandoned (and deleted): the caller reads the document again either way.
   */
  claim(key: Record<string, string | number>): Promise<WriteClaim | null>;
  /** False once writing with `claim` is no longer safe (it took longer than the fence to get). */
  inTime(claim: WriteClaim): boolean;
  /** Deletes the claim, once its write is done or given up. */
  release(claim: WriteClaim): Promise<void>;
}

export interface WriteClaimsOptions {
  /** Runs one store operation, turning an unreachable store into the service's own error. */
  run: <T>(operation: () => Promise<T>) => Promise<T>;
  /** Told when a writer took over a claim its holder left behind. */
  onAbandoned?: ((claim: AbandonedClaim) => void) | undefined;
}

const holder = `${hostname()}:${process.pid}`;

/**
 * Write claims kept in `model`'s collection, which has a unique index on the
 * key fields. The driver's collection is used directly: a claim is a few plain
 * fields, and it keeps this mechanism independent of each service's schema.
 */
export function writeClaims<T extends WriteClaimFields>(model: Model<T>, options: WriteClaimsOptions): WriteClaims {
  const { run, onAbandoned } = options;
  const collection = model.collection;
  return {
    async claim(key) {
      const claimedAt = Date.now();
      try {
        const created = await run(() => collection.insertOne({ ...key, claimedAt: new Date(claimedAt), holder }));
        return { id: created.insertedId, claimedAt };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      for (;;) {
        const held = await run(() => collection.findOne<WriteClaimFields & { _id: mongo.ObjectId }>(key));
        if (held === null) return null;
        const ageMs = Date.now() - held.claimedAt.getTime();
        if (ageMs > abandonedClaimMs) {
          // Deleted by its own id, so a writer that also saw it abandoned cannot delete a fresh claim.
          const removed = await run(() => collection.deleteOne({ _id: held._id }));
          if (removed.deletedCount === 1) onAbandoned?.({ key, ageMs, holder: held.holder });
          return null;
        }
        await sleep(claimPollMs);
      }
    },
    inTime: (claim) => Date.now() - claim.claimedAt <= claimFenceMs,
    async release(claim) {
      await run(() => collection.deleteOne({ _id: claim.id }));
    },
  };
}
