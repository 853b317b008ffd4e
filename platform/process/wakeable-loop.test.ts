// createWakeableLoop under mock timers: sleeps as long as a round asks, wakes
// early on wake(), backs off (doubling, capped, reset by a success) after
// failed rounds, and stop() lets the running round finish. Time moves only
// when a test ticks it, so every expectation is exact.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { deferred, settle } from "../../test/support/wait.js";
import { backOff, createWakeableLoop } from "./wakeable-loop.js";

describe("wakeable loop", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 }));
  afterEach(() => mock.timers.reset());

  /** Moves the mocked clock by `ms`, then lets the rounds it woke run. */
  async function tick(ms: number): Promise<void> {
    mock.timers.tick(ms);
    await settle();
  }

  it("sleeps as long as the round asks, and wake() ends the sleep at once", async () => {
    let rounds = 0;
    const loop = createWakeableLoop({
      round: async () => {
        rounds++;
        return 60_000;
      },
      onError: () => undefined,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 1,
    });
    loop.start();
    await tick(59_999);
    assert.equal(rounds, 1, "one round, then a 60 s sleep");
    loop.wake();
    await settle();
    assert.equal(rounds, 2, "woken before the sleep ended");
    await loop.stop();
  });

  it("runs the next round at once when a round asks for 0 ms, or when woken while it ran", async () => {
    let rounds = 0;
    let loop: ReturnType<typeof createWakeableLoop> | undefined;
    loop = createWakeableLoop({
      round: async () => {
        rounds += 1;
        if (rounds === 1) return 0;
        if (rounds === 2) loop?.wake();
        return 60_000;
      },
      onError: () => undefined,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 1,
    });
    loop.start();
    await settle();
    assert.equal(rounds, 3, "no time passed for the first three rounds");
    await tick(59_999);
    assert.equal(rounds, 3, "then the long sleep");
    await tick(1);
    assert.equal(rounds, 4);
    await loop.stop();
  });

  it("backs off after failed rounds, doubling and capped, and a success resets it", async () => {
    const startedAt: number[] = [];
    const errors: unknown[] = [];
    const outcomes: Array<"throw" | "backOff" | "ok"> = ["throw", "backOff", "throw", "throw", "ok", "throw"];
    const loop = createWakeableLoop({
      round: async () => {
        startedAt.push(Date.now());
        const outcome = outcomes[startedAt.length - 1];
        if (outcome === undefined) return 60_000;
        if (outcome === "throw") throw new Error(`round ${startedAt.length} failed`);
        return outcome === "backOff" ? backOff : 0;
      },
      onError: (error) => errors.push(error),
      retryInitialDelayMs: 100,
      retryMaxDelayMs: 300,
    });
    loop.start();
    await settle();
    // Failures 1 to 4 wait 100, 200, 300 (capped), 300; the success goes on at
    // once; the next failure waits 100 again. One millisecond short of each
    // wait, the next round has not started.
    for (const wait of [100, 200, 300, 300, 100]) {
      const rounds = startedAt.length;
      await tick(wait - 1);
      assert.equal(startedAt.length, rounds, `no round ${wait - 1} ms into a ${wait} ms back-off (started at ${startedAt.join(", ")})`);
      await tick(1);
      assert.ok(startedAt.length > rounds, `a round after the ${wait} ms back-off (started at ${startedAt.join(", ")})`);
    }
    await loop.stop();
    assert.deepEqual(startedAt, [0, 100, 300, 600, 900, 900, 1000]);
    assert.deepEqual(
      errors.map((error) => (error as Error).message),
      ["round 1 failed", "round 3 failed", "round 4 failed", "round 6 failed"],
    );
  });

  it("stop() waits for the round in progress and runs no further round", async () => {
    let rounds = 0;
    let finished = false;
    const running = deferred();
    const release = deferred();
    const loop = createWakeableLoop({
      round: async () => {
        rounds += 1;
        running.resolve();
        await release.promise;
        finished = true;
        return 0;
      },
      onError: () => undefined,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 1,
    });
    loop.start();
    await running.promise;
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, false, "stop() waits while the round runs");
    release.resolve();
    await stopping;
    assert.equal(finished, true);
    assert.equal(rounds, 1);
  });
});
