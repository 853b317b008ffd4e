// The basket's service tests run against the real services it depends on, all
// in-process on loopback port 0: identity (tokens and JWKS), catalog (prices,
// price-change events, seeded with testItems) and basket itself on a fresh
// MongoDB-protocol database, with one RabbitMQ exchange of their own, plus
// small client helpers. It lives here, not beside the basket, because it
// starts other services.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { BasketServiceClient } from "../../gen/mel/basket/v1/basket.js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../../gen/mel/identity/v1/identity.js";
import { callUnary } from "../../platform/grpc/index.js";
import { testBasketConfig } from "../../services/basket/basket.test-support.js";
import type { BasketConfig } from "../../services/basket/config.js";
import { type RunningBasket, type StartBasketOptions, startBasket } from "../../services/basket/main.js";
import { insertTestBrandAndType, insertTestItem, testCatalogConfig } from "../../services/catalog/catalog.test-support.js";
import type { CatalogConfig } from "../../services/catalog/config.js";
import { type RunningCatalog, startCatalog } from "../../services/catalog/main.js";
import { loadIdentityConfig } from "../../services/identity/config.js";
import { type RunningIdentity, startIdentity } from "../../services/identity/main.js";
import { loadOrderingConfig } from "../../services/ordering/config.js";
import { type RunningOrdering, startOrdering } from "../../services/ordering/main.js";
import { createTestMongoDatabase, type TestMongoDatabase } from "./ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "./rabbitmq.js";

export const adminEmail = "admin@basket.test";
const adminPassword = "basket-admin-password";

/** Catalog items every basket test can use: id → price in centavos. */
export const testItems = { mel: 1000, caneca: 2500, pote: 400, favo: 1800 } as const;
export type TestItemId = keyof typeof testItems;

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
  /** Adds a product to catalog at `priceMinor` centavos (100 units in stock), for a test that changes it. */
  addProduct(id: string, priceMinor: number): Promise<void>;
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
    const identity = await startIdentity({
      config: loadIdentityConfig({
        MEL_LOG_LEVEL: "silent",
        MEL_RABBITMQ_URL: rabbitMqUrl,
        MEL_EVENTS_EXCHANGE: exchange,
        MEL_IDENTITY_HOST: "127.0.0.1",
        MEL_IDENTITY_PORT: "0",
        MEL_IDENTITY_DATABASE_URL: `sqlite:${join(dir, "identity.db")}`,
        MEL_IDENTITY_DEV_KEY_FILE: join(dir, "identity-key"),
        MEL_IDENTITY_PASSWORD_HASH_COST: "10",
        MEL_IDENTITY_ADMIN_EMAIL: adminEmail,
        MEL_IDENTITY_ADMIN_PASSWORD: adminPassword,
        MEL_IDENTITY_DRAIN_TIMEOUT: "500",
      }),
    });
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
      const orderingMongo = await createTestMongoDatabase(`${label}_ordering`);
      stops.push(() => orderingMongo.drop());
      const orderingConfig = loadOrderingConfig({
        MEL_ORDERING_MONGODB_URL: orderingMongo.url,
        MEL_LOG_LEVEL: "silent",
        MEL_ORDERING_HOST: "127.0.0.1",
        MEL_ORDERING_PORT: "0",
        MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, "ordering.db")}`,
        MEL_ORDERING_OUTBOX_POLL_INTERVAL: "100",
        MEL_ORDERING_EVENT_RETRY_DELAYS: "20,50",
        MEL_RABBITMQ_URL: rabbitMqUrl,
        MEL_EVENTS_EXCHANGE: exchange,
        MEL_ORDERING_QUEUE: `${prefix}.ordering`,
        MEL_IDENTITY_ADDRESS: identityAddress,
        MEL_ORDERING_DRAIN_TIMEOUT: "500",
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
      async addProduct(id, priceMinor) {
        await insertTestItem(catalog.db, id, 100, {
          name: `Produto ${id}`,
          pictureUrl: `/pics/${id}.webp`,
          price: { currencyCode: "BRL", amountMinor: priceMinor },
        });
      },
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
