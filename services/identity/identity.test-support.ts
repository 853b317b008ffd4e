// Shared setup for identity's tests: a migrated identity database on SQLite (a
// temp file) or PostgreSQL (a fresh database per call), the service itself on
// 127.0.0.1:0 with fast settings and an events exchange of its own on the real
// RabbitMQ, a promise-style generated client, and helpers to sign up and sign in.
import { randomBytes } from "node:crypto";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { IdentityServiceClient, type LoginResponse } from "../../gen/mel/identity/v1/identity.js";
import { callUnary, type UnaryMethodName, type UnaryRequest, type UnaryResponse } from "../../platform/grpc/index.js";
import { createLogger, type Logger } from "../../platform/log/index.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import {
  createEmptyTestDatabase,
  type EmptyTestDatabase,
  openTestSqlDatabase,
  type TestDialect,
  type TestSqlDatabase,
} from "../../test/support/sql-database.js";
import { type IdentityConfig, loadIdentityConfig } from "./config.js";
import type { IdentityDatabase } from "./identity.table.js";
import { type RunningIdentity, startIdentity } from "./main.js";
import { identityMigrations, identityMigrationTablePrefix } from "./migrations/index.js";
import { openSealedPrivateJwk, parseKeyEncryptionKey, type SigningAlgorithm, type SigningKey, toSigningKey } from "./signing-key.js";

export { type TestDialect, testDialects } from "../../test/support/sql-database.js";

export type TestDatabase = EmptyTestDatabase;

/** An empty database for identity (not migrated). */
export function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  return createEmptyTestDatabase(dialect, "identity");
}

export type TestIdentityDatabase = TestSqlDatabase<IdentityDatabase>;

/** A fresh, migrated identity database. */
export function openTestIdentityDatabase(dialect: TestDialect): Promise<TestIdentityDatabase> {
  return openTestSqlDatabase<IdentityDatabase>(dialect, { service: "identity", migrations: identityMigrations, tablePrefix: identityMigrationTablePrefix });
}

export const testAdmin = { email: "admin@lojasmel.test", password: `admin-${randomBytes(6).toString("hex")}` } as const;

/**
 * Identity's config for tests: loopback, port 0, a cheap hash, a random
 * key-encryption key, the test admin, and an exchange named for this call
 * (unless `env` names one), which the caller deletes.
 */
export function testIdentityConfig(databaseUrl: string, env: Record<string, string> = {}): IdentityConfig {
  return loadIdentityConfig({
    MEL_RABBITMQ_URL: rabbitMqUrl,
    MEL_EVENTS_EXCHANGE: `${uniqueName("identity")}.events`,
    MEL_IDENTITY_OUTBOX_POLL_INTERVAL: "100",
    MEL_IDENTITY_HOST: "127.0.0.1",
    MEL_IDENTITY_PORT: "0",
    MEL_IDENTITY_DATABASE_URL: databaseUrl,
    MEL_IDENTITY_PASSWORD_HASH_COST: "10",
    MEL_IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    MEL_IDENTITY_ADMIN_EMAIL: testAdmin.email,
    MEL_IDENTITY_ADMIN_PASSWORD: testAdmin.password,
    MEL_IDENTITY_DRAIN_TIMEOUT: "0",
    MEL_TOKEN_CLOCK_SKEW: "2s",
    ...env,
  });
}

export type IdentityCall = <M extends UnaryMethodName<IdentityServiceClient>>(
  method: M,
  request: UnaryRequest<IdentityServiceClient, M>,
  accessToken?: string,
) => Promise<UnaryResponse<IdentityServiceClient, M>>;

export interface TestIdentity {
  running: RunningIdentity;
  config: IdentityConfig;
  address: string;
  client: IdentityServiceClient;
  call: IdentityCall;
  /** Moves identity's clock (not the test's) by `ms`; 0 puts it back. */
  shiftClock(ms: number): void;
  /** Every log line identity wrote, as text. */
  logText(): string;
  stop(): Promise<void>;
}

/** Identity on 127.0.0.1:<free port> over a fresh database of `dialect`. */
export async function startTestIdentity(
  dialect: TestDialect,
  env: Record<string, string> = {},
  options: { keyCacheTtlMs?: number } = {},
): Promise<TestIdentity> {
  await ensureRabbitMq();
  const database = await createTestDatabase(dialect);
  const config = testIdentityConfig(database.url, env);
  // The exchange and identity's instance queue are both named under the exchange.
  const deleteBrokerNames = async () => {
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(config.messaging.exchange);
    await probe.close();
  };
  const lines: string[] = [];
  const logger: Logger = createLogger({ service: "identity", level: "debug", destination: { write: (line: string) => void lines.push(line) } });
  let offsetMs = 0;
  const running = await startIdentity({ config, logger, now: () => new Date(Date.now() + offsetMs), ...options }).catch(async (error: unknown) => {
    await database.remove();
    await deleteBrokerNames();
    throw error;
  });
  const address = `127.0.0.1:${running.port}`;
  const client = new IdentityServiceClient(address, credentials.createInsecure());
  const call: IdentityCall = (method, request, accessToken) => {
    const metadata = new Metadata();
    if (accessToken !== undefined) metadata.set("authorization", `Bearer ${accessToken}`);
    return callUnary(client, method, request, { metadata, deadline: new Date(Date.now() + 10_000) });
  };
  return {
    running,
    config,
    address,
    client,
    call,
    shiftClock: (ms) => {
      offsetMs = ms;
    },
    logText: () => lines.join(""),
    stop: async () => {
      client.close();
      await running.stop();
      await database.remove();
      await deleteBrokerNames();
    },
  };
}

let accounts = 0;

/** A unique email for a test account. */
export function uniqueEmail(label = "buyer"): string {
  return `${label}-${++accounts}-${randomBytes(3).toString("hex")}@example.com`;
}

export const testPassword = "s3nha-de-teste";

/** Registers and signs in a new buyer. */
export async function signUp(identity: TestIdentity, email = uniqueEmail()): Promise<LoginResponse & { email: string; userId: string }> {
  const { user } = await identity.call("register", { email, password: testPassword, displayName: "" });
  const login = await identity.call("login", { email, password: testPassword });
  return { ...login, email, userId: user!.id };
}

export async function signInAdmin(identity: TestIdentity): Promise<LoginResponse> {
  return identity.call("login", { email: testAdmin.email, password: testAdmin.password });
}

/** The current signing key of a running identity, unsealed with its configured key-encryption key (for forging tokens in tests). */
export async function unsealedKey(identity: TestIdentity, kid?: string): Promise<SigningKey> {
  const rows = await identity.running.db.selectFrom("identity_signing_key").selectAll().orderBy("create_time", "desc").execute();
  const row = kid === undefined ? rows.find((candidate) => candidate.retire_time === null) : rows.find((candidate) => candidate.kid === kid);
  if (!row) throw new Error(`no signing key ${kid ?? "(current)"} in the database`);
  const kek = parseKeyEncryptionKey(identity.config.keyEncryptionKey!, "MEL_IDENTITY_KEY_ENCRYPTION_KEY");
  const privateJwk = openSealedPrivateJwk(row.sealed_private_jwk, row.kid, kek);
  return toSigningKey({ kid: row.kid, alg: row.alg as SigningAlgorithm, publicJwk: JSON.parse(row.public_jwk), privateJwk });
}

/** The rejection of `promise` as a ServiceError; fails when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
