// Shared setup for ordering's tests: a migrated ordering database on SQLite (a
// temp file) or PostgreSQL (a fresh database per call), a checkout to build
// orders from, and a quiet logger.

import type { Kysely } from "kysely";
import { pino } from "pino";
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import type { EventMeta } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import { openTestSqlDatabase, type TestDialect, type TestSqlDatabase } from "../../test/support/sql-database.js";
import { orderingMigrations } from "./migrations/index.js";
import type { OrderStatus } from "./order.js";
import type { OrderingDatabase } from "./order.table.js";

export { type TestDialect, testDialects } from "../../test/support/sql-database.js";

import { randomUUID } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createAuthenticate, createCachedKeySet, createTokenVerifier } from "../../platform/auth/index.js";
import type { Authenticate } from "../../platform/grpc/index.js";

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

/**
 * Access tokens for ordering's own tests: an ES256 key pair made per test
 * file, tokens signed the way identity signs them (typ at+jwt, iss, aud, sub,
 * roles), and the real platform/auth verifier trusting that key. The
 * cross-service tests under test/e2e use identity itself instead.
 */
export interface TestTokens {
  authenticate: Authenticate;
  /** A bearer token for `subject` with `roles`. */
  tokenFor(subject: string, roles?: string[]): Promise<string>;
}

const testIssuer = "mel-identity";
const testAudience = "mel-api";

export async function createTestTokens(): Promise<TestTokens> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = `test-${randomUUID()}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const keys = createCachedKeySet(async () => ({ keys: [jwk] }));
  const authenticate = createAuthenticate(createTokenVerifier({ keys, issuer: testIssuer, audience: testAudience }));
  return {
    authenticate,
    tokenFor: (subject, roles = []) => sign(privateKey, kid, subject, roles),
  };
}

function sign(key: CryptoKey, kid: string, subject: string, roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
    .setIssuer(testIssuer)
    .setAudience(testAudience)
    .setSubject(subject)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime("10m")
    .sign(key);
}

/** How many orders are in each status. */
export async function countOrdersByStatus(db: Kysely<OrderingDatabase>): Promise<Partial<Record<OrderStatus, number>>> {
  const rows = await db
    .selectFrom("orders")
    .select((eb) => ["status", eb.fn.countAll().as("count")])
    .groupBy("status")
    .execute();
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}
