// Shared setup for the basket's tests: the real services it depends on,
// in-process on loopback port 0 — identity (tokens and JWKS), catalog (prices,
// price-change events) and basket itself on a fresh MongoDB-protocol database
// — with one RabbitMQ exchange of their own, plus small client helpers; and the
// bare basket store (openTestBasketStore) for tests below the service.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import mongoose, { type Connection } from "mongoose";
import { BasketServiceClient } from "../../gen/mel/basket/v1/basket.js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../../gen/mel/identity/v1/identity.js";
import { callUnary } from "../../platform/grpc/index.js";
import { createTestMongoDatabase, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, uniqueName } from "../../test/support/rabbitmq.js";
import { insertTestBrandAndType, insertTestItem, testCatalogConfig } from "../catalog/catalog.test-support.js";
import type { CatalogConfig } from "../catalog/config.js";
import { type RunningCatalog, startCatalog } from "../catalog/main.js";
import { loadIdentityConfig } from "../identity/config.js";
import { type RunningIdentity, startIdentity } from "../identity/main.js";
import { loadOrderingConfig } from "../ordering/config.js";
import { type RunningOrdering, startOrdering } from "../ordering/main.js";
import { type BasketDb, basketModels, createBasketIndexes, hasAtomicConditionalUpdates } from "./basket.model.js";
import { type BasketConfig, loadBasketConfig } from "./config.js";
import { type RunningBasket, type StartBasketOptions, startBasket } from "./main.js";

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

export const adminEmail = "admin@basket.test";
const adminPassword = "basket-admin-password";

/** Catalog items every basket test can use: id → price in centavos. */
export const testItems = { mel: 1000, caneca: 2500, pote: 400, favo: 1800 } as const;
export type TestItemId = keyof typeof testItems;

/** The basket's config for a test: loopback, any free port, its own exchange and queue, millisecond retries. */
export function testBasketConfig(env: Record<string, string>): BasketConfig {
  return loadBasketConfig({
    MEL_LOG_LEVEL: process.env.MEL_TEST_LOG_LEVEL ?? "silent",
    MEL_BASKET_HOST: "127.0.0.1",
    MEL_BASKET_PORT: "0",
    MEL_BASKET_MONGODB_TIMEOUT: "5000",
    MEL_BASKET_CATALOG_DEADLINE: "2000",
    MEL_BASKET_MAX_LINE_QUANTITY: "60",
    MEL_BASKET_EVENT_RETRY_DELAYS_MS: "20,50",
    MEL_BASKET_OUTBOX_POLL_MS: "100",
    MEL_BASKET_DRAIN_MS: "1000",
    MEL_PAYMENT_TOKEN_KEY: "basket-test-payment-token-key-0123456789",
    ...(process.env.MEL_RABBITMQ_URL ? { MEL_RABBITMQ_URL: process.env.MEL_RABBITMQ_URL } : {}),
    ...env,
  });
}

export interface BasketTestMesh {
  identity: RunningIdentity;
  catalog: RunningCatalog;
  catalogConfig: CatalogConfig;
  basket: RunningBasket;
  basketConfig: BasketConfig;
  /** Ordering on the mesh's exchange, when the mesh was started with it (vouchers, orders from checkouts). */
  ordering: RunningOrdering | undefined;
  mongo: TestMongoDatabase;
  /** The exchange every service of the mesh publishes to. */
  exchange: string;
  client: BasketServiceClient;
  /** Catalog on its fixed port (it survives stopCatalog/startCatalogAgain). */
  catalogClient: CatalogServiceClient;
  identityClient: IdentityServiceClient;
  /** Registers and signs in a new buyer; their id is the token subject. */
  signUp(label: string): Promise<TestBuyer>;
  /** The seeded admin's token, for catalog's admin methods. */
  admin(): Promise<Metadata>;
  /** Stops catalog (its port refuses connections) until startCatalogAgain(). */
  stopCatalog(): Promise<void>;
  startCatalogAgain(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestBuyer {
  id: string;
  email: string;
  metadata: Metadata;
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/** Identity, catalog (with testItems), ordering when asked for, and basket on one fresh exchange and database. */
export async function startBasketTestMesh(
  label: string,
  options: Omit<StartBasketOptions, "config"> = {},
  mesh: { withOrdering?: boolean } = {},
): Promise<BasketTestMesh> {
  await ensureRabbitMq();
  const dir = mkdtempSync(join(tmpdir(), "mel-basket-"));
  const prefix = uniqueName(label);
  const exchange = `${prefix}.events`;
  // Stops run in reverse, so the broker clean-up runs after every service has
  // stopped: a consumer still running would re-declare a queue deleted under it.
  const stops: Array<() => Promise<void>> = [
    async () => rmSync(dir, { recursive: true, force: true }),
    async () => {
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    },
  ];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const identity = await startIdentity(
      loadIdentityConfig({
        MEL_LOG_LEVEL: "silent",
        MEL_IDENTITY_HOST: "127.0.0.1",
        MEL_IDENTITY_PORT: "0",
        MEL_IDENTITY_DATABASE_URL: `sqlite:${join(dir, "identity.db")}`,
        MEL_IDENTITY_DEV_KEY_FILE: join(dir, "identity-key"),
        MEL_IDENTITY_PASSWORD_HASH_COST: "10",
        MEL_IDENTITY_ADMIN_EMAIL: adminEmail,
        MEL_IDENTITY_ADMIN_PASSWORD: adminPassword,
        MEL_IDENTITY_DRAIN_MS: "500",
      }),
    );
    stops.push(() => identity.stop());
    const identityAddress = `127.0.0.1:${identity.port}`;

    let catalogConfig = testCatalogConfig(`sqlite:${join(dir, "catalog.db")}`, { seedDemoData: false, exchange, queue: `${prefix}.catalog` });
    catalogConfig = { ...catalogConfig, trust: { ...catalogConfig.trust, MEL_IDENTITY_ADDRESS: identityAddress } };
    let catalog = await startCatalog({ config: catalogConfig });
    let catalogStopped = false;
    stops.push(async () => {
      if (!catalogStopped) await catalog.stop();
    });
    // The next start binds the same port, so basket's channel finds it again.
    catalogConfig = { ...catalogConfig, port: catalog.port };
    await insertTestBrandAndType(catalog.db);
    for (const [id, price] of Object.entries(testItems)) {
      await insertTestItem(catalog.db, id, 100, { name: `Produto ${id}`, pictureUrl: `/pics/${id}.webp`, price: { currencyCode: "BRL", amountMinor: price } });
    }

    let ordering: RunningOrdering | undefined;
    if (mesh.withOrdering) {
      const orderingConfig = loadOrderingConfig({
        MEL_LOG_LEVEL: "silent",
        MEL_ORDERING_HOST: "127.0.0.1",
        MEL_ORDERING_PORT: "0",
        MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, "ordering.db")}`,
        MEL_ORDERING_OUTBOX_POLL_MS: "100",
        MEL_ORDERING_EVENT_RETRY_DELAYS_MS: "20,50",
        MEL_EVENTS_EXCHANGE: exchange,
        MEL_ORDERING_QUEUE: `${prefix}.ordering`,
        MEL_IDENTITY_ADDRESS: identityAddress,
        MEL_ORDERING_DRAIN_MS: "500",
        ...(process.env.MEL_RABBITMQ_URL ? { MEL_RABBITMQ_URL: process.env.MEL_RABBITMQ_URL } : {}),
      });
      const started = await startOrdering({ config: orderingConfig });
      ordering = started;
      stops.push(() => started.stop());
    }

    const mongo = await createTestMongoDatabase(label);
    stops.push(() => mongo.drop());
    const basketConfig = testBasketConfig({
      MEL_BASKET_MONGODB_URL: mongo.url,
      MEL_CATALOG_ADDRESS: `127.0.0.1:${catalog.port}`,
      ...(ordering ? { MEL_ORDERING_ADDRESS: `127.0.0.1:${ordering.port}` } : {}),
      MEL_IDENTITY_ADDRESS: identityAddress,
      MEL_EVENTS_EXCHANGE: exchange,
      MEL_BASKET_QUEUE: `${prefix}.basket`,
    });
    const basket = await startBasket({
      config: basketConfig,
      catalogBreaker: { halfOpenAfterMs: 100 },
      relayRetry: { initialDelayMs: 50, maxDelayMs: 200 },
      ...options,
    });
    stops.push(() => basket.stop());

    const client = new BasketServiceClient(`127.0.0.1:${basket.port}`, credentials.createInsecure());
    const identityClient = new IdentityServiceClient(identityAddress, credentials.createInsecure());
    const catalogClient = new CatalogServiceClient(`127.0.0.1:${catalog.port}`, credentials.createInsecure());
    stops.push(async () => {
      client.close();
      catalogClient.close();
      identityClient.close();
    });

    const signIn = async (email: string, password: string) => (await callUnary(identityClient, "login", { email, password })).accessToken;
    const running: BasketTestMesh = {
      identity,
      catalog,
      catalogConfig,
      basket,
      basketConfig,
      ordering,
      mongo,
      exchange,
      client,
      catalogClient,
      identityClient,
      async signUp(buyerLabel) {
        const email = `${buyerLabel}-${uniqueName("buyer").slice(-8)}@basket.test`;
        const password = "correct horse battery";
        const { user } = await callUnary(identityClient, "register", { email, password, displayName: buyerLabel });
        assert.ok(user);
        return { id: user.id, email, metadata: bearer(await signIn(email, password)) };
      },
      admin: async () => bearer(await signIn(adminEmail, adminPassword)),
      async stopCatalog() {
        await catalog.stop();
        catalogStopped = true;
      },
      async startCatalogAgain() {
        catalog = await startCatalog({ config: catalogConfig });
        catalogStopped = false;
        running.catalog = catalog;
      },
      stop: stopAll,
    };
    return running;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Asserts that `promise` fails with `code` and a message matching `pattern`. */
export async function rejectsWith(promise: Promise<unknown>, code: status, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: ServiceError) => {
    assert.equal(error.code, code, `expected ${status[code]}, got ${status[error.code]}: ${error.details}`);
    assert.match(error.details, pattern);
    return true;
  });
}
