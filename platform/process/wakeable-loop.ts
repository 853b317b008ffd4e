// A background loop of rounds, for the outbox relays and the order step
// runner: after each round it sleeps as long as the round asks (0: go again at
// once), wake() cuts the sleep short (a commit just queued work), and a round
// that throws or reports a failure is followed by a back-off that doubles per
// consecutive failure. stop() lets the round in progress finish.
// Hand-written: it is a sleep that can be woken around a while loop; job-queue
// libraries bring their own storage, and the work here lives in the services'
// own tables and documents.

/** What a round returns to be counted as failed (back off) without throwing. */
export const backOff = Symbol("back off");

export interface WakeableLoopOptions {
  /** Runs one round; resolves to the sleep before the next one in ms (0: at once), or backOff. */
  round: () => Promise<number | typeof backOff>;
  /** Told of a round that threw, before the back-off. */
  onError: (error: unknown) => void;
  /** Back-off after a failed round: initial, doubled per consecutive failure, capped. */
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
}

export interface WakeableLoop {
  /** Starts the loop (idempotent). */
  start(): void;
  /** Ends the current sleep now, or skips the next one if a round is running. */
  wake(): void;
  /** Lets the round in progress finish, then stops. */
  stop(): Promise<void>;
}

export function createWakeableLoop({ round, onError, retryInitialDelayMs, retryMaxDelayMs }: WakeableLoopOptions): WakeableLoop {
  let running: Promise<void> | undefined;
  let stopping = false;
  let woken = false;
  let endSleep: (() => void) | undefined;

  function sleep(ms: number): Promise<void> {
    if (woken || stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        endSleep = undefined;
        resolve();
      }
      endSleep = done;
    });
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      woken = false;
      let outcome: number | typeof backOff;
      try {
        outcome = await round();
      } catch (error) {
        onError(error);
        outcome = backOff;
      }
      failures = outcome === backOff ? failures + 1 : 0;
      const delayMs = outcome === backOff ? Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** (failures - 1)) : outcome;
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  return {
    start() {
      if (running) return;
      stopping = false;
      running = loop();
    },
    wake() {
      woken = true;
      endSleep?.();
    },
    async stop() {
      stopping = true;
      endSleep?.();
      await running;
      running = undefined;
    },
  };
}
