// In-process news of committed order changes, for WatchOrder streams: the
// code that commits a change calls notify(orderId), and every stream watching
// that order reads it again. Only changes committed by this process arrive
// here; WatchOrder's slow fallback poll covers the others.
export type OrderListener = () => void;

export interface OrderNotifier {
  /** Calls every listener of `orderId`; call it after the commit, never inside the transaction. */
  notify(orderId: string): void;
  /** Listens for changes of `orderId`; returns the function that stops listening. */
  subscribe(orderId: string, listener: OrderListener): () => void;
  /** Listeners currently registered (tests check streams clean up). */
  listenerCount(): number;
}

export function createOrderNotifier(): OrderNotifier {
  const listeners = new Map<string, Set<OrderListener>>();
  return {
    notify(orderId) {
      for (const listener of listeners.get(orderId) ?? []) listener();
    },
    subscribe(orderId, listener) {
      let set = listeners.get(orderId);
      if (!set) {
        set = new Set();
        listeners.set(orderId, set);
      }
      set.add(listener);
      return () => {
        const current = listeners.get(orderId);
        current?.delete(listener);
        if (current?.size === 0) listeners.delete(orderId);
      };
    },
    listenerCount() {
      let count = 0;
      for (const set of listeners.values()) count += set.size;
      return count;
    },
  };
}
