// Shared setup for the order read model's tests: a fresh database on the
// MongoDB-protocol test server (FerretDB unless MEL_TEST_MONGODB_URL names a
// MongoDB) with the read model's models and indexes, and the comparison of
// every order on the write side with its copy.
import assert from "node:assert/strict";
import type { Kysely } from "kysely";
import { connectMongo, hasAtomicConditionalUpdates, type MongoConnection } from "../../platform/mongo/index.js";
import { createTestMongoDatabase, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { orderToProto } from "./order.mapper.js";
import { findOrder } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { viewToProto } from "./order-view.mapper.js";
import { createOrderReadModelIndexes, type OrderReadModel, orderReadModelOn } from "./order-view.model.js";
import { findOrderView } from "./order-view.repository.js";
import { quietLogger } from "./ordering.test-support.js";

export interface TestReadModel {
  readModel: OrderReadModel;
  database: TestMongoDatabase;
  mongo: MongoConnection;
  /** Closes the connection and drops the database. */
  destroy(): Promise<void>;
}

export async function openTestReadModel(label: string): Promise<TestReadModel> {
  const database = await createTestMongoDatabase(label);
  const mongo = await connectMongo(database.url, { timeoutMs: 10_000, logger: quietLogger, purpose: "the order read model" });
  const readModel = orderReadModelOn(mongo.connection, { claimWrites: !(await hasAtomicConditionalUpdates(mongo.connection)) });
  await createOrderReadModelIndexes(readModel);
  return {
    readModel,
    database,
    mongo,
    async destroy() {
      await mongo.close();
      await database.drop();
    },
  };
}

/** The ids of every order on the write side. */
export async function allOrderIds(db: Kysely<OrderingDatabase>): Promise<string[]> {
  return (await db.selectFrom("orders").select("id").orderBy("id").execute()).map((row) => row.id);
}

/** Differences between the write side and the read model, one line per order that differs (empty when they agree on every field and the version). */
export async function readModelDifferences(db: Kysely<OrderingDatabase>, readModel: OrderReadModel): Promise<string[]> {
  const differences: string[] = [];
  for (const id of await allOrderIds(db)) {
    const order = await findOrder(db, id);
    const view = await findOrderView(readModel, id);
    if (order === undefined) continue;
    if (view === undefined) {
      differences.push(`${id}: missing from the read model`);
      continue;
    }
    if (view.version !== order.version) differences.push(`${id}: version ${view.version} in the read model, ${order.version} on the write side`);
    try {
      assert.deepStrictEqual(viewToProto(view), orderToProto(order));
    } catch (error) {
      differences.push(`${id}: ${error instanceof Error ? error.message.split("\n").slice(0, 12).join(" ") : String(error)}`);
    }
  }
  return differences;
}
