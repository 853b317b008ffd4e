// Shared setup for catalog's tests: a migrated catalog database on SQLite (a
// temp file) or PostgreSQL (a fresh database per call), and small builders.
import { randomUUID } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { Kysely } from "kysely";
import { createTokenTrust } from "../../platform/auth/index.js";
import type { Authenticate } from "../../platform/grpc/index.js";
import { uniqueName } from "../../test/support/rabbitmq.js";
import { openTestSqlDatabase, type TestDialect, type TestSqlDatabase } from "../../test/support/sql-database.js";
import type { CatalogConfig } from "./config.js";
import type { ItemDraft } from "./item.js";
import { insertBrand, insertItem, insertType } from "./item.repository.js";
import type { CatalogDatabase } from "./item.table.js";
import { catalogMigrations } from "./migrations/index.js";

export { type TestDialect, testDialects } from "../../test/support/sql-database.js";

export type TestCatalogDatabase = TestSqlDatabase<CatalogDatabase>;

/** A fresh, migrated, empty catalog database. */
export function openTestCatalogDatabase(dialect: TestDialect, options: { maxConnections?: number } = {}): Promise<TestCatalogDatabase> {
  return openTestSqlDatabase<CatalogDatabase>(dialect, { service: "catalog", migrations: catalogMigrations, tablePrefix: "catalog", ...options });
}

export const testBrand = { id: "brand-test", name: "Marca de Teste" } as const;
export const testType = { id: "type-test", name: "Tipo de Teste" } as const;

export async function insertTestBrandAndType(db: Kysely<CatalogDatabase>): Promise<void> {
  await insertBrand(db, testBrand);
  await insertType(db, testType);
}

export function testDraft(overrides: Partial<ItemDraft> = {}): ItemDraft {
  return {
    name: "Caneca de Teste",
    description: "",
    price: { currencyCode: "BRL", amountMinor: 1000 },
    brandId: testBrand.id,
    typeId: testType.id,
    pictureUrl: "",
    restockThreshold: 0,
    maxStock: 1000,
    ...overrides,
  };
}

/** Inserts an item with `availableStock` units under the test brand and type; returns its id. */
export async function insertTestItem(db: Kysely<CatalogDatabase>, id: string, availableStock: number, overrides: Partial<ItemDraft> = {}): Promise<string> {
  await insertItem(db, id, testDraft(overrides), availableStock, new Date());
  return id;
}

/** Catalog's config for a test: loopback, any free port, its own exchange and queue, millisecond retries. */
export function testCatalogConfig(databaseUrl: string, overrides: Partial<CatalogConfig> = {}): CatalogConfig {
  const prefix = uniqueName("catalog");
  return {
    logLevel: "silent",
    host: "127.0.0.1",
    port: 0,
    databaseUrl,
    databaseMaxConnections: 10,
    seedDemoData: true,
    rabbitMqUrl: process.env.MEL_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672",
    exchange: `${prefix}.events`,
    queue: `${prefix}.catalog`,
    quorumQueues: false,
    eventPrefetch: 16,
    eventRetryDelaysMs: [20, 50],
    outboxPollMs: 50,
    outboxRetentionMs: 7 * 24 * 60 * 60 * 1000,
    drainMs: 1000,
    trust: {
      MEL_TOKEN_ISSUER: testTokenIssuer,
      MEL_TOKEN_AUDIENCE: testTokenAudience,
      MEL_TOKEN_CLOCK_SKEW: 30_000,
      MEL_IDENTITY_ADDRESS: "127.0.0.1:1",
      MEL_JWKS_MAX_AGE: 300_000,
      MEL_JWKS_UNKNOWN_KID_COOLDOWN: 10_000,
    },
    grpc: { tls: undefined, allowedClients: [], maxConnectionAgeMs: 300_000, maxConnectionAgeGraceMs: 1000, healthPort: undefined },
    ...overrides,
  };
}

const testTokenIssuer = "mel-identity";
const testTokenAudience = "mel-api";

export interface TestTokens {
  /** Verifies tokens against the test key, exactly as services verify identity's. */
  authenticate: Authenticate;
  /** Metadata carrying a fresh access token for `subject` with `roles`. */
  bearer(subject: string, roles?: string[]): Promise<Metadata>;
}

/**
 * Access tokens signed with a key made for the test: the same claims, header
 * and algorithm identity issues, verified by platform/auth's real verifier
 * against a JWKS holding only the test key.
 */
export async function createTestTokens(): Promise<TestTokens> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] };
  const { authenticate } = createTokenTrust({ jwks: async () => jwks, issuer: testTokenIssuer, audience: testTokenAudience });
  return {
    authenticate,
    async bearer(subject, roles = []) {
      const token = await new SignJWT({ roles, email: `${subject}@example.com` })
        .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
        .setIssuer(testTokenIssuer)
        .setAudience(testTokenAudience)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime("5m")
        .setJti(randomUUID())
        .sign(privateKey);
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      return metadata;
    },
  };
}
