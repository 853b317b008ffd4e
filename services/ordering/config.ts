// Ordering's configuration: the MEL_* variables it reads, validated once in
// main.ts (a bad value stops the process naming the variable).
import { z } from "zod";
import { type TokenTrustEnv, tokenTrustEnv, tokenTrustFrom } from "../../platform/auth/index.js";
import { defaultPorts, durationMs, type Env, integer, logLevel, parseConfig, port, text } from "../../platform/config/index.js";
import { type MessagingConfig, messagingConfigFrom, messagingEnv } from "../../platform/events/index.js";
import { type GrpcServerTransportConfig, grpcServerEnv, grpcServerTransportFrom } from "../../platform/grpc/index.js";
import { mongoUrl } from "../../platform/mongo/index.js";

export const orderingEnv = z.object({
  MEL_LOG_LEVEL: logLevel(),
  /** Where the gRPC server listens; 0 takes any free port. */
  MEL_ORDERING_HOST: text("0.0.0.0"),
  MEL_ORDERING_PORT: port(defaultPorts.ordering),
  /** sqlite:<file>, postgres://… or mssql://…; the embedded SQLite file when unset. */
  MEL_ORDERING_DATABASE_URL: text("sqlite:data/ordering.db"),
  /** Most connections to a database server (PostgreSQL, SQL Server). */
  MEL_ORDERING_DATABASE_MAX_CONNECTIONS: integer({ min: 1, max: 200, default: 10 }),
  /** The order read model's MongoDB (or FerretDB) database: what ListOrders, SearchOrders, GetOrder and GetSalesPerDay read. */
  MEL_ORDERING_MONGODB_URL: mongoUrl("mongodb://127.0.0.1:27017/mel-ordering"),
  /** How long start-up, and then each read-model operation, waits for an unreachable MongoDB before giving up. */
  MEL_ORDERING_MONGODB_TIMEOUT: durationMs(10_000),
  /** How long a buyer may change their mind before stock is reserved (0 in tests). */
  MEL_ORDERING_GRACE_PERIOD: durationMs(60_000),
  /** How often the step scheduler looks for due steps when nothing wakes it. */
  MEL_ORDERING_STEP_POLL_INTERVAL: durationMs(1000),
  /** How long a claimed step is held before another instance may take it over (must outlast a payment call). */
  MEL_ORDERING_STEP_LEASE: durationMs(30_000),
  /** Gateway calls that fail (not declines) are retried this often before the payment counts as failed. */
  MEL_ORDERING_PAYMENT_MAX_ATTEMPTS: integer({ min: 1, max: 100, default: 8 }),
  /** WatchOrder re-reads this often for changes committed by other ordering instances. */
  MEL_ORDERING_WATCH_POLL_INTERVAL: durationMs(5000),
  ...messagingEnv("ORDERING"),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_ORDERING_DRAIN_TIMEOUT: durationMs(10_000),
  ...tokenTrustEnv,
  ...grpcServerEnv,
});

export type OrderingEnv = z.output<typeof orderingEnv>;

export interface OrderingConfig extends MessagingConfig {
  logLevel: OrderingEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  databaseUrl: string;
  databaseMaxConnections: number;
  mongoUrl: string;
  mongoTimeoutMs: number;
  gracePeriodMs: number;
  stepPollMs: number;
  stepLeaseMs: number;
  paymentMaxAttempts: number;
  watchPollMs: number;
  drainMs: number;
  /** Token trust (issuer, audience, identity's address for the JWKS), as platform/auth reads it. */
  trust: TokenTrustEnv;
  /** Plaintext or mutual TLS, connection age, health port (MEL_GRPC_*). */
  grpc: GrpcServerTransportConfig;
}

/** Parses and validates ordering's variables from `env`; throws ConfigError naming each bad one. */
export function loadOrderingConfig(env: Env = process.env): OrderingConfig {
  const parsed = parseConfig(orderingEnv, env);
  return {
    logLevel: parsed.MEL_LOG_LEVEL,
    host: parsed.MEL_ORDERING_HOST,
    port: parsed.MEL_ORDERING_PORT,
    databaseUrl: parsed.MEL_ORDERING_DATABASE_URL,
    databaseMaxConnections: parsed.MEL_ORDERING_DATABASE_MAX_CONNECTIONS,
    mongoUrl: parsed.MEL_ORDERING_MONGODB_URL,
    mongoTimeoutMs: parsed.MEL_ORDERING_MONGODB_TIMEOUT,
    gracePeriodMs: parsed.MEL_ORDERING_GRACE_PERIOD,
    stepPollMs: parsed.MEL_ORDERING_STEP_POLL_INTERVAL,
    stepLeaseMs: parsed.MEL_ORDERING_STEP_LEASE,
    paymentMaxAttempts: parsed.MEL_ORDERING_PAYMENT_MAX_ATTEMPTS,
    watchPollMs: parsed.MEL_ORDERING_WATCH_POLL_INTERVAL,
    ...messagingConfigFrom(parsed, "ORDERING"),
    drainMs: parsed.MEL_ORDERING_DRAIN_TIMEOUT,
    trust: tokenTrustFrom(parsed),
    grpc: grpcServerTransportFrom(parsed),
  };
}
