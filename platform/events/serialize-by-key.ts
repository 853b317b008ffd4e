// Runs tasks one after another per key, and tasks of different keys side by
// side. A consumer handles up to its prefetch of messages at once, so two
// events about one thing (two price changes of one product) could otherwise
// finish in the opposite order to the one they were published in, and the
// older one would win. Called in delivery order, this keeps that order per key
// within one consumer (competing consumers on other processes can still
// overlap). Hand-written: it is a promise chain per key, and the maintained
// queue libraries (p-queue, async-mutex) bound concurrency overall, not per key.

/** Returns a runner: `run(key, task)` starts `task` once every earlier task of `key` has settled. */
export function serializeByKey(): <T>(key: string, task: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<void>>();
  return <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    // Forget the key once its last task has settled, so the map holds only busy keys.
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
}
