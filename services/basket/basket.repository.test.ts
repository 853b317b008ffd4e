// Conditional writes of basket documents against the MongoDB-protocol test
// server: a write based on a stale read never lands, whatever the server.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mongoose, { type Connection } from "mongoose";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { basketModels, createBasketIndexes, hasAtomicConditionalUpdates, type BasketDb, type BasketLineFields } from "./basket.model.js";
import { findBasketDocument, insertBasketDocument, updateBasket } from "./basket.repository.js";

function line(quantity: number): BasketLineFields {
  return { productId: "mel", productName: "Mel", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1000 }, quantity };
}

describe("basket repository", () => {
  let database: TestMongoDatabase;
  let connection: Connection;
  let db: BasketDb;
  const now = new Date("2030-01-01T12:00:00Z");

  before(async () => {
    database = await createTestMongoDatabase("basket repository");
    connection = await mongoose.createConnection(database.url, { serverSelectionTimeoutMS: 5000, autoIndex: false }).asPromise();
    db = basketModels(connection, { claimWrites: !(await hasAtomicConditionalUpdates(connection)) });
    await createBasketIndexes(db);
  });

  after(async () => {
    await connection?.close();
    await database?.drop();
    await stopMongoServer();
  });

  it("knows whether the server applies conditional updates atomically (FerretDB v1 does not)", async () => {
    const server = await ensureMongoServer();
    assert.equal(await hasAtomicConditionalUpdates(connection), server.kind === "mongodb");
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
    const other = await mongoose.createConnection(database.url, { serverSelectionTimeoutMS: 5000, autoIndex: false }).asPromise();
    try {
      const otherDb = basketModels(other, { claimWrites: db.writeClaims !== undefined });
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, index) => updateBasket(index % 2 ? db : otherDb, "buyer-race", 1, { lines: [line(100 + index)] }, now)));
      assert.equal(outcomes.filter(Boolean).length, 1);
      const winner = outcomes.indexOf(true);
      const document = await findBasketDocument(db, "buyer-race");
      assert.deepEqual([document?.revision, document?.lines[0]?.quantity], [2, 100 + winner]);
    } finally {
      await other.close();
    }
  });

  it("takes over a revision claim abandoned by a writer that died, but not a fresh one", async (t) => {
    if (!db.writeClaims) return t.skip("the server's conditional updates are atomic: no claims are made");
    await insertBasketDocument(db, "buyer-claims", [line(1)], now);
    await db.writeClaims.create({ buyerId: "buyer-claims", revision: 2, claimedAt: now });
    assert.equal(await updateBasket(db, "buyer-claims", 1, { lines: [line(2)] }, new Date(now.getTime() + 1000)), false, "a fresh claim blocks");
    assert.equal(await updateBasket(db, "buyer-claims", 1, { lines: [line(2)] }, new Date(now.getTime() + 60_000)), false, "the abandoned claim is removed");
    assert.equal(await updateBasket(db, "buyer-claims", 1, { lines: [line(3)] }, new Date(now.getTime() + 60_000)), true);
    assert.equal((await findBasketDocument(db, "buyer-claims"))?.lines[0]?.quantity, 3);
    assert.equal(await db.writeClaims.countDocuments({ buyerId: "buyer-claims" }).exec(), 0);
  });
});
