// serializeByKey: tasks of one key run in call order, one at a time, even when
// an earlier one fails; tasks of other keys do not wait for them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { serializeByKey } from "./serialize-by-key.js";

describe("serializeByKey", () => {
  it("runs the tasks of one key in call order, one at a time, whatever each takes", async () => {
    const run = serializeByKey();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number) => async () => {
      running += 1;
      assert.equal(running, 1, `${name} overlapped another task of its key`);
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      running -= 1;
      return name;
    };
    const results = await Promise.all([run("caneca", task("first", 40)), run("caneca", task("second", 1)), run("caneca", task("third", 20))]);
    assert.deepEqual(results, ["first", "second", "third"]);
    assert.deepEqual(log, ["start first", "end first", "start second", "end second", "start third", "end third"]);
  });

  it("runs the next task of a key after an earlier one failed, and hands each caller its own outcome", async () => {
    const run = serializeByKey();
    const failing = run("mel", async () => {
      await sleep(10);
      throw new Error("catalog down");
    });
    const next = run("mel", async () => "applied");
    await assert.rejects(failing, /catalog down/);
    assert.equal(await next, "applied");
  });

  it("does not make one key wait for another", async () => {
    const run = serializeByKey();
    const order: string[] = [];
    const slow = run("pote", async () => {
      await sleep(50);
      order.push("pote");
    });
    const fast = run("favo", async () => {
      order.push("favo");
    });
    await Promise.all([slow, fast]);
    assert.deepEqual(order, ["favo", "pote"]);
  });
});
