// Conditional writes of basket documents against the MongoDB-protocol test
// server: a write based on a stale read never lands, whatever the server; and a
// store that cannot be reached is reported as unavailable, not as a bug.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mongoose from "mongoose";
import { UnavailableError } from "../../platform/errors/index.js";
import { abandonedClaimMs, claimFenceMs } from "../../platform/mongo/index.js";
import { ensureMongoServer, stopMongoServer } from "../../test/support/ferretdb.js";
import { awaitedLater } from "../../test/support/wait.js";
import { type BasketDb, type BasketLineFields, basketModels, hasAtomicConditionalUpdates } from "./basket.model.js";
import { claimEvent, findBasketDocument, insertBasketDocument, isStoreUnavailable, updateBasket } from "./basket.repository.js";
import { openTestBasketStore, type TestBasketStore } from "./basket.test-support.js";
import { startMongoProxy } from "./mongo-proxy.test-support.js";

function line(quantity: number): BasketLineFields {
  return { productId: "mel", productName: "Mel", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1000 }, quantity };
}

describe("basket repository", () => {
  let store: TestBasketStore;
  let db: BasketDb;
  const now = new Date("2030-01-01T12:00:00Z");

  before(async () => {
    store = await openTestBasketStore("basket repository");
    db = store.db;
  });

  after(async () => {
    await store?.close();
    await stopMongoServer();
  });

  it("knows whether the server applies conditional updates atomically (FerretDB v1 does not)", async () => {
    const server = await ensureMongoServer();
    assert.equal(await hasAtomicConditionalUpdates(store.connection), server.kind === "mongodb");
    assert.equal(db.writeClaims !== undefined, server.kind === "ferretdb");
  });

  it("creates a buyer's document once; a second creation reports the lost race", async () => {
    assert.equal(await insertBasketDocument(db, "buyer-create", [line(1)], now), true);
    assert.equal(await insertBasketDocument(db, "buyer-create", [line(9)], now), false);
    const document = await findBasketDocument(db, "buyer-create");
    assert.deepEqual([document?.revision, document?.version, document?.lines[0]?.quantity], [1, 1, 1]);
  });

  it("writes only at the revision read; lines bump the version, other writes only the revision", async () => {
    await insertBasketDocument(db, "buyer-stale", [line(1)], now);
    assert.equal(await updateBasket(db, "buyer-stale", 1, { lines: [line(2)] }, now), true);
    assert.equal(await updateBasket(db, "buyer-stale", 1, { lines: [line(7)] }, now), false);
    assert.equal(await updateBasket(db, "buyer-stale", 2, { outboxClaimedUntil: now }, now), true);
    const document = await findBasketDocument(db, "buyer-stale");
    assert.deepEqual([document?.revision, document?.version, document?.lines[0]?.quantity], [3, 2, 2]);
  });

  it("lets exactly one of many concurrent writers at the same revision win", async () => {
    await insertBasketDocument(db, "buyer-race", [line(1)], now);
    // A second connection, as a second basket instance would have.
    const other = await mongoose.createConnection(store.database.url, { serverSelectionTimeoutMS: 5000, autoIndex: false }).asPromise();
    try {
      const otherDb = basketModels(other, { claimWrites: db.writeClaims !== undefined });
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, (_, index) => updateBasket(index % 2 ? db : otherDb, "buyer-race", 1, { lines: [line(100 + index)] }, now)),
      );
      assert.equal(outcomes.filter(Boolean).length, 1);
      const winner = outcomes.indexOf(true);
      const document = await findBasketDocument(db, "buyer-race");
      assert.deepEqual([document?.revision, document?.lines[0]?.quantity], [2, 100 + winner]);
    } finally {
      await other.close();
    }
  });

  it("takes over a revision claim abandoned by a writer that died, but not a fresh one, and says so", async (t) => {
    if (!db.writeClaims) return t.skip("the server's conditional updates are atomic: no claims are made");
    const takenOver: Array<Parameters<NonNullable<BasketDb["onAbandonedClaim"]>>[0]> = [];
    const watched: BasketDb = { ...db, onAbandonedClaim: (claim) => takenOver.push(claim) };
    await insertBasketDocument(db, "buyer-claims", [line(1)], now);
    // Claims are leases in real time, whatever business time the writer passes.
    const fresh = await db.writeClaims.create({ buyerId: "buyer-claims", revision: 2, claimedAt: new Date() });
    let waitedOut: boolean | undefined;
    const waiting = updateBasket(watched, "buyer-claims", 1, { lines: [line(2)] }, now).then((written) => {
      waitedOut = written;
    });
    // The waiter looks at the claim every few milliseconds; these round trips give it time to have looked several times.
    for (let roundTrip = 0; roundTrip < 10; roundTrip++) await db.writeClaims.countDocuments({ buyerId: "buyer-claims" }).exec();
    assert.equal(waitedOut, undefined, "a writer waits while a live claim is held, rather than failing at once");
    await db.writeClaims.deleteOne({ _id: fresh._id }).exec();
    await waiting;
    assert.equal(waitedOut, false, "once the claim is gone it reports a lost race, so its caller reads the basket again");
    assert.equal(takenOver.length, 0, "a live claim is not taken over");

    await db.writeClaims.create({ buyerId: "buyer-claims", revision: 2, claimedAt: new Date(Date.now() - abandonedClaimMs - 1000), holder: "gone:1" });
    assert.equal(await updateBasket(watched, "buyer-claims", 1, { lines: [line(2)] }, now), false, "the abandoned claim is removed");
    assert.deepEqual(
      takenOver.map(({ key, holder }) => ({ key, holder })),
      [{ key: { buyerId: "buyer-claims", revision: 2 }, holder: "gone:1" }],
      "the take-over is reported with the holder that left the claim",
    );
    assert.ok((takenOver[0]?.ageMs ?? 0) > abandonedClaimMs, `the claim's age is reported: ${takenOver[0]?.ageMs}`);
    assert.equal(await updateBasket(watched, "buyer-claims", 1, { lines: [line(3)] }, now), true);
    assert.equal((await findBasketDocument(db, "buyer-claims"))?.lines[0]?.quantity, 3);
    assert.equal(await db.writeClaims.countDocuments({ buyerId: "buyer-claims" }).exec(), 0);
  });

  it("does not write with a claim that took longer than the fence to get, so a write never outlives its lease", async (t) => {
    if (!db.writeClaims) return t.skip("the server's conditional updates are atomic: no claims are made");
    await insertBasketDocument(db, "buyer-fenced", [line(1)], now);
    // Only Date is mocked: the store's I/O runs on real timers while the claim's clock jumps past the fence.
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const written = updateBasket(db, "buyer-fenced", 1, { lines: [line(2)] }, now);
    t.mock.timers.tick(claimFenceMs + 1);
    assert.equal(await written, false, "the writer gives its claim up and reports a lost race, so its caller reads again and retries");
    t.mock.timers.reset();
    const document = await findBasketDocument(db, "buyer-fenced");
    assert.deepEqual([document?.revision, document?.lines[0]?.quantity], [1, 1], "nothing was written");
    assert.equal(await db.writeClaims.countDocuments({ buyerId: "buyer-fenced" }).exec(), 0, "the claim is gone");
    assert.equal(await updateBasket(db, "buyer-fenced", 1, { lines: [line(2)] }, now), true, "a writer in time writes");
  });

  it("reports a write cut off in flight, and every call while the store is unreachable, as UnavailableError", async () => {
    const proxy = await startMongoProxy(store.database.url);
    // Gives up selecting a server after half a second, and on a connection that hangs after one.
    const through = await mongoose.createConnection(`${proxy.url}&connectTimeoutMS=1000`, { serverSelectionTimeoutMS: 500, autoIndex: false }).asPromise();
    const { MongoNetworkError, MongoServerSelectionError } = mongoose.mongo;
    const unavailable = (error: unknown) => {
      assert.ok(error instanceof UnavailableError, `expected UnavailableError, got ${String(error)}`);
      assert.match(error.message, /^the basket store is unavailable right now/);
      assert.ok(
        error.cause instanceof MongoNetworkError || error.cause instanceof MongoServerSelectionError,
        `the driver's error is kept as the cause: ${String(error.cause)}`,
      );
      return true;
    };
    try {
      const cutOff = basketModels(through, { claimWrites: db.writeClaims !== undefined });
      assert.equal(await insertBasketDocument(cutOff, "buyer-outage", [line(1)], now), true);

      const heldBack = proxy.stall();
      const inFlight = awaitedLater(updateBasket(cutOff, "buyer-outage", 1, { lines: [line(2)] }, now));
      await heldBack;
      await proxy.cut();
      await assert.rejects(inFlight, unavailable);
      await assert.rejects(findBasketDocument(cutOff, "buyer-outage"), unavailable);
      await assert.rejects(insertBasketDocument(cutOff, "buyer-outage-2", [line(1)], now), unavailable);
      await assert.rejects(claimEvent(cutOff, "event-1", "basket.test", now, 30_000), unavailable);
    } finally {
      await through.close(true);
      await proxy.close();
    }
  });

  it("tells a store that failed in a way a retry may get past from one that refused the operation", () => {
    // FerretDB v1 puts no error labels on its answers, so these are the driver's own error classes, made as a MongoDB primary stepping down would answer.
    const { MongoServerError, MongoNetworkError } = mongoose.mongo;
    assert.equal(isStoreUnavailable(new MongoServerError({ message: "not primary", code: 10107, errorLabels: ["RetryableWriteError"] })), true);
    assert.equal(isStoreUnavailable(new MongoServerError({ message: "transaction aborted", code: 251, errorLabels: ["TransientTransactionError"] })), true);
    assert.equal(isStoreUnavailable(new MongoNetworkError("connection reset")), true);
    assert.equal(isStoreUnavailable(new MongoServerError({ message: "E11000 duplicate key error", code: 11000 })), false);
    assert.equal(isStoreUnavailable(new Error("a bug")), false);
  });
});
