// The basket's inbox against the MongoDB-protocol test server: deliveries of
// one event that overlap run its handler once, a failed handler can run again,
// and a claim left by a handler that died is taken over once its lease ends.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { EventMeta } from "../../platform/events/index.js";
import { createLogger } from "../../platform/log/index.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { awaitedLater, deferred, waitUntil } from "../../test/support/wait.js";
import type { BasketDb } from "./basket.model.js";
import { pruneBasketInbox } from "./basket.repository.js";
import { openTestBasketStore, type TestBasketStore } from "./basket.test-support.js";
import { type EventInboxOptions, handleEventOnce } from "./basket-inbox.js";

function metaFor(eventId: string): EventMeta {
  return { eventId, type: "ProductPriceChanged", correlationId: undefined, traceparent: undefined, redelivered: false, attempt: 1, occurredAt: undefined };
}

describe("basket inbox", () => {
  let store: TestBasketStore;
  let db: BasketDb;
  const logLines: Array<{ msg: string; eventId?: string }> = [];
  const options: EventInboxOptions = {
    logger: createLogger({ service: "basket-inbox-test", level: "debug", destination: { write: (line: string) => void logLines.push(JSON.parse(line)) } }),
    now: () => new Date(),
    // Long enough that a busy machine still renews in time, short enough to outlast in a test.
    leaseMs: 1000,
    waitPollMs: 10,
  };

  before(async () => {
    store = await openTestBasketStore("basket inbox");
    db = store.db;
  });

  after(async () => {
    await store?.close();
    await stopMongoServer();
  });

  it("runs the handler once when a duplicate arrives while the first delivery is still running, and outlasts its lease", async () => {
    const eventId = randomUUID();
    const release = deferred();
    let runs = 0;
    const handler = async () => {
      runs += 1;
      await release.promise;
    };
    const handle = handleEventOnce(db, "inbox.overlap", handler, options);
    // The duplicate's own clock tells when it looked at the claim: each look reads it once.
    const looks: number[] = [];
    const duplicateHandle = handleEventOnce(db, "inbox.overlap", handler, {
      ...options,
      now: () => {
        looks.push(Date.now());
        return new Date(looks.at(-1) as number);
      },
    });
    const first = awaitedLater(handle({}, metaFor(eventId)));
    await waitUntil("the first delivery running", () => runs === 1);
    const firstLeaseEnd = (await db.inbox.findOne({ eventId, consumer: "inbox.overlap" }).lean().exec())?.claimedUntil?.getTime();
    assert.ok(firstLeaseEnd !== undefined, "the first delivery holds a claim");
    const duplicate = awaitedLater(duplicateHandle({}, metaFor(eventId)));
    try {
      // The holder keeps renewing: a look a whole lease after the first lease ended,
      // and the look after it (so that one came back "held"), must not take over.
      const outlasted = firstLeaseEnd + (options.leaseMs ?? 0);
      await waitUntil("the duplicate to look again a lease after the first lease ended", () => looks.filter((at) => at >= outlasted).length >= 2, 30_000);
      assert.equal(runs, 1);
    } finally {
      release.resolve();
    }
    await Promise.all([first, duplicate]);
    assert.equal(runs, 1);
    assert.ok(logLines.some((line) => line.msg === "duplicate event ignored (already handled)" && line.eventId === eventId));
    const entry = await db.inbox.findOne({ eventId, consumer: "inbox.overlap" }).lean().exec();
    assert.ok(entry?.handledAt instanceof Date, "the entry is marked handled");
  });

  it("runs the handler once across many concurrent deliveries of one event", async () => {
    const eventId = randomUUID();
    let runs = 0;
    const handle = handleEventOnce(
      db,
      "inbox.many",
      async () => {
        runs += 1;
        await new Promise((wake) => setTimeout(wake, 50));
      },
      options,
    );
    await Promise.all(Array.from({ length: 10 }, () => handle({}, metaFor(eventId))));
    assert.equal(runs, 1);
    assert.equal(await db.inbox.countDocuments({ eventId }).exec(), 1);
  });

  it("gives the claim up when the handler fails, so the retried delivery runs it again", async () => {
    const eventId = randomUUID();
    let runs = 0;
    const handle = handleEventOnce(
      db,
      "inbox.failing",
      async () => {
        runs += 1;
        if (runs === 1) throw new Error("catalog price lookup failed");
      },
      options,
    );
    await assert.rejects(handle({}, metaFor(eventId)), /catalog price lookup failed/);
    assert.equal(await db.inbox.countDocuments({ eventId }).exec(), 0);
    await handle({}, metaFor(eventId));
    await handle({}, metaFor(eventId));
    assert.equal(runs, 2);
  });

  it("takes over a claim whose holder died once its lease has run out", async () => {
    const eventId = randomUUID();
    // The inbox's clock is the test's: the dead holder's lease ends when the test says so.
    let clock = Date.now();
    const looks: number[] = [];
    await db.inbox.create({ eventId, consumer: "inbox.takeover", claimId: "dead-holder", claimedUntil: new Date(clock + 200) });
    let runs = 0;
    const handle = handleEventOnce(
      db,
      "inbox.takeover",
      async () => {
        runs += 1;
      },
      {
        ...options,
        now: () => {
          looks.push(clock);
          return new Date(clock);
        },
      },
    );
    const delivery = awaitedLater(handle({}, metaFor(eventId)));
    await waitUntil("the delivery to look at the held claim twice", () => looks.length >= 2);
    assert.equal(runs, 0, "the delivery waits while the lease lasts");
    clock += 200;
    await delivery;
    assert.equal(runs, 1);
    const entry = await db.inbox.findOne({ eventId, consumer: "inbox.takeover" }).lean().exec();
    assert.notEqual(entry?.claimId, "dead-holder");
    assert.ok(entry?.handledAt instanceof Date);
  });

  it("fails the delivery with a clear error when another delivery's claim is held far longer than its lease", async () => {
    const eventId = randomUUID();
    // A holder that keeps its claim alive forever, as a stuck handler that still renews would.
    const stuckUntil = new Date(Date.now() + 60 * 60 * 1000);
    await db.inbox.create({ eventId, consumer: "inbox.stuck", claimId: "stuck-holder", claimedUntil: stuckUntil });
    let runs = 0;
    const handle = handleEventOnce(
      db,
      "inbox.stuck",
      async () => {
        runs += 1;
      },
      { ...options, maxWaitMs: 600 },
    );
    await assert.rejects(handle({}, metaFor(eventId)), /still being handled by another delivery for inbox\.stuck after 600 ms; it will be retried/);
    assert.equal(runs, 0);
  });

  it("prunes handled entries and abandoned claims older than the cutoff, and keeps the rest", async () => {
    const consumer = `inbox.prune.${randomUUID()}`;
    const old = new Date("2020-01-01T00:00:00Z");
    const recent = new Date();
    await db.inbox.create([
      { eventId: "handled-old", consumer, claimId: "a", claimedUntil: old, handledAt: old },
      { eventId: "handled-recent", consumer, claimId: "b", claimedUntil: recent, handledAt: recent },
      { eventId: "abandoned-old", consumer, claimId: "c", claimedUntil: old },
      { eventId: "claimed-now", consumer, claimId: "d", claimedUntil: new Date(Date.now() + 60_000) },
    ]);
    await pruneBasketInbox(db, new Date(Date.now() - 60_000));
    const left = (await db.inbox.find({ consumer }).lean().exec()).map((entry) => entry.eventId).sort();
    assert.deepEqual(left, ["claimed-now", "handled-recent"]);
  });
});
