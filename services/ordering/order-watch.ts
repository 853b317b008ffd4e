// WatchOrder's stream: the order as it is now, then the order at each status
// change after that, until it reaches a final status or the caller leaves.
// Driven by the in-process notifier (a commit here wakes the stream at once);
// a slow fallback poll catches changes committed by another ordering instance.
// Every version of an order adds one history entry, so when several changes
// land between two reads, the stream still sends one message per change,
// each the order as it stood right after that change.
import type { Kysely } from "kysely";
import { isFinalStatus, type Order } from "./order.js";
import { findOrder } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import type { OrderNotifier } from "./order-notifier.js";

export interface WatchDeps {
  db: Kysely<OrderingDatabase>;
  notifier: OrderNotifier;
  /** Fallback re-read for changes made by other instances. Default 5000 ms. */
  pollIntervalMs?: number;
}

/** The order as it stood at `version` (1 = as submitted); `order` is a later or the same version. */
export function orderAtVersion(order: Order, version: number): Order {
  if (version >= order.version) return order;
  const history = order.history.slice(0, version);
  const last = history.at(-1);
  if (last === undefined) throw new Error(`order ${order.id} has no version ${version}`);
  const paid = last.status === "PAID" || last.status === "SHIPPED";
  return { ...order, version, status: last.status, history, updateTime: last.changeTime, authorizationId: paid ? order.authorizationId : undefined };
}

/** A latch the notifier sets and the stream waits on; a notification while the stream is busy is kept, not lost. */
function changeLatch(signal: AbortSignal) {
  let pending = false;
  let release: (() => void) | undefined;
  const fire = () => {
    pending = true;
    release?.();
  };
  signal.addEventListener("abort", fire, { once: true });
  return {
    fire,
    /** Resolves at the next notification (or one that came since the last wait), after `timeoutMs`, or on abort. */
    wait(timeoutMs: number): Promise<void> {
      if (pending || signal.aborted) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(timer);
          release = undefined;
          pending = false;
          resolve();
        }
        release = done;
      });
    },
    close() {
      signal.removeEventListener("abort", fire);
      release?.();
    },
  };
}

/**
 * Yields `first` (already read and access-checked by the caller), then the
 * order at every later version as it is committed. Subscribes before the
 * caller's first read would be ideal; instead it re-reads once right after
 * subscribing, so a change committed in between is not missed.
 */
export async function* watchOrderChanges(deps: WatchDeps, first: Order, signal: AbortSignal): AsyncGenerator<Order> {
  const pollIntervalMs = deps.pollIntervalMs ?? 5000;
  const latch = changeLatch(signal);
  const unsubscribe = deps.notifier.subscribe(first.id, latch.fire);
  try {
    yield first;
    let sent = first.version;
    let current = first;
    latch.fire();
    while (!isFinalStatus(current.status) && !signal.aborted) {
      await latch.wait(pollIntervalMs);
      if (signal.aborted) return;
      const latest = await findOrder(deps.db, first.id);
      if (latest === undefined || latest.version <= sent) continue;
      for (let version = sent + 1; version <= latest.version; version++) {
        current = orderAtVersion(latest, version);
        yield current;
        sent = version;
      }
    }
  } finally {
    unsubscribe();
    latch.close();
  }
}
