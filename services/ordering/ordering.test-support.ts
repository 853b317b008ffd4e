// Shared setup for ordering's tests: a migrated ordering database on SQLite (a
// temp file) or PostgreSQL (a fresh database per call), a checkout to build
// orders from, and a quiet logger.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { pino } from "pino";
import type { Logger } from "../../platform/log/index.js";
import { createDatabase, migrateToLatest } from "../../platform/sql/index.js";
import { createTestPostgresDatabase } from "../../test/support/postgres.js";
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import type { EventMeta } from "../../platform/events/index.js";
import { orderingMigrations } from "./migrations/index.js";
import type { OrderingDatabase } from "./order.table.js";

export type TestDialect = "sqlite" | "postgres";
export const testDialects: readonly TestDialect[] = ["sqlite", "postgres"];

export interface TestOrderingDatabase {
  db: Kysely<OrderingDatabase>;
  /** The URL the database was opened with, for starting the service on it. */
  url: string;
  destroy(): Promise<void>;
}

/** A fresh, migrated, empty ordering database. */
export async function openTestOrderingDatabase(dialect: TestDialect, options: { maxConnections?: number } = {}): Promise<TestOrderingDatabase> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mel-ordering-"));
    const url = `sqlite:${join(dir, "ordering.db")}`;
    const db = createDatabase<OrderingDatabase>(url, { variable: "MEL_ORDERING_DATABASE_URL" });
    await migrateToLatest(db, orderingMigrations, { tablePrefix: "ordering" });
    return {
      db,
      url,
      destroy: async () => {
        await db.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const database = await createTestPostgresDatabase("ordering");
  const db = createDatabase<OrderingDatabase>(database.url, { variable: "MEL_ORDERING_DATABASE_URL", ...options });
  await migrateToLatest(db, orderingMigrations, { tablePrefix: "ordering" });
  return {
    db,
    url: database.url,
    destroy: async () => {
      await db.destroy();
      await database.drop();
    },
  };
}

export const quietLogger: Logger = pino({ level: "silent" });

let counter = 0;

/** A valid checkout of two lines (2 × 10.00 + 1 × 25.50 BRL) by `buyerId`, with fresh ids unless given. */
export function testCheckout(overrides: Partial<UserCheckoutAccepted> = {}): UserCheckoutAccepted {
  counter += 1;
  const suffix = `${process.pid}-${Date.now().toString(36)}-${counter}`;
  return {
    buyerId: "buyer-1",
    requestId: `req-${suffix}`,
    orderId: `order-${suffix}`,
    address: { street: "Rua das Flores, 10", city: "São Paulo", state: "SP", country: "BR", zipCode: "01000-000" },
    paymentMethod: { cardBrand: "visa", last4: "4242", expiryMonth: 12, expiryYear: 2031, holderName: "Maria Silva", paymentToken: "tok_test_4242" },
    lines: [
      { productId: "product-a", productName: "Caneca", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1000 }, units: 2 },
      { productId: "product-b", productName: "Camiseta", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 2550 }, units: 1 },
    ],
    total: { currencyCode: "BRL", amountMinor: 4550 },
    buyerEmail: "maria@example.com",
    ...overrides,
  };
}

/** Delivery metadata for calling a handler directly, as the bus would. */
export function testMeta(type: EventMeta["type"], eventId: string, correlationId = "corr-test"): EventMeta {
  return { eventId, type, correlationId, traceparent: undefined, redelivered: false, attempt: 1, occurredAt: new Date() };
}
