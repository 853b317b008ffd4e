// Waiting for something to become true in tests, instead of sleeping a guess.

/** Resolves when `check` returns true (polling every `intervalMs`); rejects after `timeoutMs` with `what`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 10): Promise<void> {
  await waitForValue(what, async () => ((await check()) ? true : undefined), timeoutMs, intervalMs);
}

/** Resolves with the first value `read` returns other than undefined (polling every `intervalMs`); rejects after `timeoutMs` with `what`. */
export async function waitForValue<T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, intervalMs));
  }
}

/** A promise with its resolve exposed, for "wait until the handler saw X". */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * `promise`, marked as awaited later: a test that starts a call, does other
 * awaited work and only then awaits the call would otherwise see an early
 * rejection reported as unhandled (failing the run, not the test). Awaiting
 * the returned promise still throws that rejection.
 */
export function awaitedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Lets pending promise callbacks and I/O callbacks run (setImmediate is left alone by mock timers of setTimeout and Date). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
