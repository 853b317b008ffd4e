// Ordering's configuration: the MEL_* variables it reads, validated once in
// main.ts (a bad value stops the process naming the variable).
import { tokenTrustEnv } from "../../platform/auth/index.js";
import { boolean, defaultPorts, durationMs, integer, logLevel, parseConfig, port, text, url, type Env } from "../../platform/config/index.js";
import { z } from "zod";

/** Comma-separated positive milliseconds ("1000,5000,10000"). */
function millisecondsList(defaults: number[]) {
  return z
    .string()
    .regex(/^\s*[1-9]\d*(\s*,\s*[1-9]\d*)*\s*$/, "expected comma-separated positive milliseconds, e.g. 1000,5000,10000")
    .transform((value) => value.split(",").map((part) => Number(part.trim())))
    .default(defaults);
}

export const orderingEnv = z.object({
  MEL_LOG_LEVEL: logLevel(),
  /** Where the gRPC server listens; 0 takes any free port. */
  MEL_ORDERING_HOST: text("0.0.0.0"),
  MEL_ORDERING_PORT: port(defaultPorts.ordering),
  /** sqlite:<file>, postgres://… or mssql://…; the embedded SQLite file when unset. */
  MEL_ORDERING_DATABASE_URL: text("sqlite:data/ordering.db"),
  /** Most connections to a database server (PostgreSQL, SQL Server). */
  MEL_ORDERING_DATABASE_MAX_CONNECTIONS: integer({ min: 1, max: 200, default: 10 }),
  /** How long a buyer may change their mind before stock is reserved (0 in tests). */
  MEL_ORDERING_GRACE_PERIOD_MS: durationMs(60_000),
  /** How often the step scheduler looks for due steps when nothing wakes it. */
  MEL_ORDERING_STEP_POLL_MS: durationMs(1000),
  /** How long a claimed step is held before another instance may take it over (must outlast a payment call). */
  MEL_ORDERING_STEP_LEASE_MS: durationMs(30_000),
  /** Gateway calls that fail (not declines) are retried this often before the payment counts as failed. */
  MEL_ORDERING_PAYMENT_MAX_ATTEMPTS: integer({ min: 1, max: 100, default: 8 }),
  /** WatchOrder re-reads this often for changes committed by other ordering instances. */
  MEL_ORDERING_WATCH_POLL_MS: durationMs(5000),
  MEL_RABBITMQ_URL: url({ protocols: ["amqp", "amqps"], default: "amqp://guest:guest@127.0.0.1:5672" }),
  /** The topic exchange integration events travel on. */
  MEL_EVENTS_EXCHANGE: text("mel.events"),
  /** Ordering's queue on it. */
  MEL_ORDERING_QUEUE: text("ordering.events"),
  /** Declare ordering's queues as quorum queues (replicated; for clustered brokers). */
  MEL_ORDERING_QUORUM_QUEUES: boolean(false),
  /** Events handled at once by one ordering instance. */
  MEL_ORDERING_EVENT_PREFETCH: integer({ min: 1, max: 1000, default: 16 }),
  /** Delays before each redelivery of an event whose handler failed; then the DLQ. */
  MEL_ORDERING_EVENT_RETRY_DELAYS_MS: millisecondsList([1000, 5000, 10_000]),
  /** The outbox relay's fallback poll (it is woken on every commit). */
  MEL_ORDERING_OUTBOX_POLL_MS: durationMs(1000),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_ORDERING_DRAIN_MS: durationMs(10_000),
  ...tokenTrustEnv,
});

export type OrderingEnv = z.output<typeof orderingEnv>;

export interface OrderingConfig {
  logLevel: OrderingEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  databaseUrl: string;
  databaseMaxConnections: number;
  gracePeriodMs: number;
  stepPollMs: number;
  stepLeaseMs: number;
  paymentMaxAttempts: number;
  watchPollMs: number;
  rabbitMqUrl: string;
  exchange: string;
  queue: string;
  quorumQueues: boolean;
  eventPrefetch: number;
  eventRetryDelaysMs: number[];
  outboxPollMs: number;
  drainMs: number;
  /** Token trust (issuer, audience, identity's address for the JWKS), as platform/auth reads it. */
  trust: Pick<OrderingEnv, keyof typeof tokenTrustEnv>;
}

/** Parses and validates ordering's variables from `env`; throws ConfigError naming each bad one. */
export function loadOrderingConfig(env: Env = process.env): OrderingConfig {
  const parsed = parseConfig(orderingEnv, env);
  const trust = Object.fromEntries(Object.keys(tokenTrustEnv).map((key) => [key, parsed[key as keyof OrderingEnv]])) as OrderingConfig["trust"];
  return {
    logLevel: parsed.MEL_LOG_LEVEL,
    host: parsed.MEL_ORDERING_HOST,
    port: parsed.MEL_ORDERING_PORT,
    databaseUrl: parsed.MEL_ORDERING_DATABASE_URL,
    databaseMaxConnections: parsed.MEL_ORDERING_DATABASE_MAX_CONNECTIONS,
    gracePeriodMs: parsed.MEL_ORDERING_GRACE_PERIOD_MS,
    stepPollMs: parsed.MEL_ORDERING_STEP_POLL_MS,
    stepLeaseMs: parsed.MEL_ORDERING_STEP_LEASE_MS,
    paymentMaxAttempts: parsed.MEL_ORDERING_PAYMENT_MAX_ATTEMPTS,
    watchPollMs: parsed.MEL_ORDERING_WATCH_POLL_MS,
    rabbitMqUrl: parsed.MEL_RABBITMQ_URL,
    exchange: parsed.MEL_EVENTS_EXCHANGE,
    queue: parsed.MEL_ORDERING_QUEUE,
    quorumQueues: parsed.MEL_ORDERING_QUORUM_QUEUES,
    eventPrefetch: parsed.MEL_ORDERING_EVENT_PREFETCH,
    eventRetryDelaysMs: parsed.MEL_ORDERING_EVENT_RETRY_DELAYS_MS,
    outboxPollMs: parsed.MEL_ORDERING_OUTBOX_POLL_MS,
    drainMs: parsed.MEL_ORDERING_DRAIN_MS,
    trust,
  };
}
