// The MongoDB-protocol test server: it starts, each database is fresh, and the
// operations the basket relies on behave as on MongoDB.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import mongoose, { type Connection } from "mongoose";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer, type TestMongoDatabase, withDatabase } from "./ferretdb.js";

describe("test MongoDB-protocol server", () => {
  let database: TestMongoDatabase;
  let connection: Connection;

  before(async () => {
    database = await createTestMongoDatabase("ferretdb support");
    connection = await mongoose.createConnection(database.url, { serverSelectionTimeoutMS: 5000 }).asPromise();
  });

  after(async () => {
    await connection?.close();
    await database?.drop();
    await stopMongoServer();
  });

  test("hands out a database URL with a unique name under the server's address", async () => {
    const server = await ensureMongoServer();
    const other = await createTestMongoDatabase("ferretdb support");
    assert.match(database.name, /^mel_ferretdb_support_[0-9a-f]{8}$/);
    assert.notEqual(other.name, database.name);
    assert.equal(database.url, withDatabase(server.baseUrl, database.name));
  });

  test("replaces only the database of a MongoDB URL, keeping hosts and options", () => {
    assert.equal(withDatabase("mongodb://u:p@a:1,b:2/old?replicaSet=rs0", "fresh"), "mongodb://u:p@a:1,b:2/fresh?replicaSet=rs0");
    assert.equal(withDatabase("mongodb://127.0.0.1:27017", "fresh"), "mongodb://127.0.0.1:27017/fresh");
    assert.throws(() => withDatabase("postgres://x", "fresh"), /not a mongodb:\/\/ URL/);
  });

  test("a unique index rejects a duplicate with E11000", async () => {
    const collection = connection.collection("uniques");
    await collection.createIndex({ key: 1 }, { unique: true });
    await collection.insertOne({ key: "a" });
    await assert.rejects(collection.insertOne({ key: "a" }), (error: unknown) => (error as { code?: number }).code === 11000);
  });

  test("a version-filtered update applies once and misses a stale version", async () => {
    const collection = connection.collection("versioned");
    await collection.insertOne({ _id: "basket" as never, version: 1, lines: [] });
    const first = await collection.updateOne({ _id: "basket" as never, version: 1 }, { $set: { lines: [{ productId: "p1" }] }, $inc: { version: 1 } });
    const stale = await collection.updateOne({ _id: "basket" as never, version: 1 }, { $set: { lines: [] }, $inc: { version: 1 } });
    assert.equal(first.modifiedCount, 1);
    assert.equal(stale.matchedCount, 0);
    assert.deepEqual(await collection.findOne({ _id: "basket" as never }), { _id: "basket", version: 2, lines: [{ productId: "p1" }] });
  });

  test("a dotted query finds documents by a field of an array element", async () => {
    const collection = connection.collection("dotted");
    await collection.insertMany([
      { _id: "with" as never, lines: [{ productId: "p1" }, { productId: "p2" }] },
      { _id: "without" as never, lines: [{ productId: "p3" }] },
    ]);
    const found = await collection.find({ "lines.productId": "p2" }).toArray();
    assert.deepEqual(
      found.map((document) => document._id),
      ["with"],
    );
  });
});
