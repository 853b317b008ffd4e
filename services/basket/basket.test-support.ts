// Shared setup for the basket's own tests: the bare basket store on a fresh
// MongoDB-protocol database (openTestBasketStore), the basket's test config,
// and an assertion for gRPC failures. The mesh of identity, catalog and basket
// the service tests run against is in test/support/basket-mesh.ts.

import assert from "node:assert/strict";
import { type ServiceError, status } from "@grpc/grpc-js";
import mongoose, { type Connection } from "mongoose";
import { createTestMongoDatabase, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { type BasketDb, basketModels, createBasketIndexes, hasAtomicConditionalUpdates } from "./basket.model.js";
import { type BasketConfig, loadBasketConfig } from "./config.js";

/** The basket's models on a fresh MongoDB-protocol database, set up as startBasket sets them up. */
export interface TestBasketStore {
  db: BasketDb;
  connection: Connection;
  database: TestMongoDatabase;
  /** Closes the connection and drops the database. */
  close(): Promise<void>;
}

export async function openTestBasketStore(label: string): Promise<TestBasketStore> {
  const database = await createTestMongoDatabase(label);
  const connection = await mongoose.createConnection(database.url, { serverSelectionTimeoutMS: 5000, autoIndex: false }).asPromise();
  const db = basketModels(connection, { claimWrites: !(await hasAtomicConditionalUpdates(connection)) });
  await createBasketIndexes(db);
  return {
    db,
    connection,
    database,
    async close() {
      await connection.close();
      await database.drop();
    },
  };
}

/** The basket's config for a test: loopback, any free port, its own exchange and queue, millisecond retries. */
export function testBasketConfig(env: Record<string, string>): BasketConfig {
  return loadBasketConfig({
    MEL_LOG_LEVEL: process.env.MEL_TEST_LOG_LEVEL ?? "silent",
    MEL_BASKET_HOST: "127.0.0.1",
    MEL_BASKET_PORT: "0",
    MEL_BASKET_MONGODB_TIMEOUT: "5000",
    MEL_BASKET_CATALOG_DEADLINE: "2000",
    MEL_BASKET_MAX_LINE_QUANTITY: "60",
    MEL_BASKET_EVENT_RETRY_DELAYS: "20,50",
    MEL_BASKET_OUTBOX_POLL_INTERVAL: "100",
    MEL_BASKET_DRAIN_TIMEOUT: "1000",
    MEL_BASKET_PAYMENT_TOKEN_KEY: "basket-test-payment-token-key-0123456789",
    ...(process.env.MEL_RABBITMQ_URL ? { MEL_RABBITMQ_URL: process.env.MEL_RABBITMQ_URL } : {}),
    ...env,
  });
}

/** Asserts that `promise` fails with `code` and a message matching `pattern`. */
export async function rejectsWith(promise: Promise<unknown>, code: status, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: ServiceError) => {
    assert.equal(error.code, code, `expected ${status[code]}, got ${status[error.code]}: ${error.details}`);
    assert.match(error.details, pattern);
    return true;
  });
}
