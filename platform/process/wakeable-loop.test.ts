// createWakeableLoop with real timers: sleeps as long as a round asks, wakes
// early on wake(), backs off (doubling, capped, reset by a success) after
// failed rounds, and stop() lets the running round finish.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { waitUntil } from "../../test/support/wait.js";
import { backOff, createWakeableLoop } from "./wakeable-loop.js";

describe("wakeable loop", () => {
  it("sleeps as long as the round asks, and wake() ends the sleep at once", async () => {
    let rounds = 0;
    const loop = createWakeableLoop({ round: async () => (rounds++, 60_000), onError: () => undefined, retryInitialDelayMs: 1, retryMaxDelayMs: 1 });
    loop.start();
    await sleep(50);
    assert.equal(rounds, 1, "one round, then a long sleep");
    loop.wake();
    await waitUntil("the woken round", () => rounds === 2);
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
    await waitUntil("three rounds", () => rounds === 3);
    await sleep(50);
    assert.equal(rounds, 3, "then the long sleep");
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
    await sleep(100 + 200 + 300 + 300 + 0 + 100 + 250);
    await loop.stop();
    assert.equal(startedAt.length, 7);
    const gaps = startedAt.slice(1).map((at, index) => at - (startedAt[index] as number));
    // Failures 1 to 4 wait 100, 200, 300 (capped), 300; the success goes on at
    // once; the next failure waits 100 again. Each range ends where a wrong
    // schedule (no doubling, no cap, no reset) would land, leaving room for a busy machine.
    const ranges: Array<[number, number]> = [
      [98, 200],
      [198, 300],
      [298, 400],
      [298, 400],
      [0, 100],
      [98, 300],
    ];
    gaps.forEach((gap, index) => {
      const [low, high] = ranges[index] as [number, number];
      assert.ok(gap >= low && gap < high, `gap ${index + 1}: ${gap} ms, expected ${low}–${high} ms (gaps ${gaps.join(", ")})`);
    });
    assert.deepEqual(
      errors.map((error) => (error as Error).message),
      ["round 1 failed", "round 3 failed", "round 4 failed", "round 6 failed"],
    );
  });

  it("stop() waits for the round in progress and runs no further round", async () => {
    let rounds = 0;
    let finished = false;
    const loop = createWakeableLoop({
      round: async () => {
        rounds += 1;
        await sleep(50);
        finished = true;
        return 0;
      },
      onError: () => undefined,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 1,
    });
    loop.start();
    await sleep(10);
    await loop.stop();
    assert.equal(finished, true);
    assert.equal(rounds, 1);
  });
});
