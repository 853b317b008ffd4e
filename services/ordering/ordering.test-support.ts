// Shared setup for ordering's tests: a migrated ordering database on SQLite (a
// temp file) or PostgreSQL (a fresh database per call), a checkout to build
// orders from, and a quiet logger.
import { pino } from "pino";
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import type { EventMeta } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import { openTestSqlDatabase, type TestDialect, type TestSqlDatabase } from "../../test/support/sql-database.js";
import { orderingMigrations } from "./migrations/index.js";
import type { OrderingDatabase } from "./order.table.js";

export { type TestDialect, testDialects } from "../../test/support/sql-database.js";

export type TestOrderingDatabase = TestSqlDatabase<OrderingDatabase>;

/** A fresh, migrated, empty ordering database. */
export function openTestOrderingDatabase(dialect: TestDialect, options: { maxConnections?: number } = {}): Promise<TestOrderingDatabase> {
  return openTestSqlDatabase<OrderingDatabase>(dialect, { service: "ordering", migrations: orderingMigrations, tablePrefix: "ordering", ...options });
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
    voucherCode: "",
    ...overrides,
  };
}

/** Delivery metadata for calling a handler directly, as the bus would. */
export function testMeta(type: EventMeta["type"], eventId: string, correlationId = "corr-test"): EventMeta {
  return { eventId, type, correlationId, traceparent: undefined, redelivered: false, attempt: 1, occurredAt: new Date() };
}
