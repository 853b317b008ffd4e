// Catalog's configuration: the MEL_* variables it reads, validated once in
// main.ts (a bad value stops the process naming the variable).
import { z } from "zod";
import { tokenTrustEnv } from "../../platform/auth/index.js";
import { boolean, defaultPorts, durationMs, integer, logLevel, parseConfig, port, text, url, type Env } from "../../platform/config/index.js";

/** Comma-separated positive milliseconds ("1000,5000,10000"). */
function millisecondsList(defaults: number[]) {
  return z
    .string()
    .regex(/^\s*[1-9]\d*(\s*,\s*[1-9]\d*)*\s*$/, "expected comma-separated positive milliseconds, e.g. 1000,5000,10000")
    .transform((value) => value.split(",").map((part) => Number(part.trim())))
    .default(defaults);
}

export const catalogEnv = z.object({
  MEL_LOG_LEVEL: logLevel(),
  /** Where the gRPC server listens; port 0 takes any free port. */
  MEL_CATALOG_HOST: text("0.0.0.0"),
  MEL_CATALOG_PORT: port(defaultPorts.catalog),
  /** sqlite:<file>, postgres://… or mssql://…; the embedded SQLite file when unset. */
  MEL_CATALOG_DATABASE_URL: text("sqlite:data/catalog.db"),
  /** Most connections to a database server (PostgreSQL, SQL Server). */
  MEL_CATALOG_DATABASE_MAX_CONNECTIONS: integer({ min: 1, max: 200, default: 10 }),
  /** Write the demo catalogue into an empty database at start-up. */
  MEL_CATALOG_SEED_DEMO_DATA: boolean(true),
  MEL_RABBITMQ_URL: url({ protocols: ["amqp", "amqps"], default: "amqp://guest:guest@127.0.0.1:5672" }),
  /** The topic exchange integration events travel on. */
  MEL_EVENTS_EXCHANGE: text("mel.events"),
  /** Catalog's queue on it. */
  MEL_CATALOG_QUEUE: text("catalog.events"),
  /** Declare catalog's queues as quorum queues (replicated; for clustered brokers). */
  MEL_CATALOG_QUORUM_QUEUES: boolean(false),
  /** Events handled at once by one catalog instance. */
  MEL_CATALOG_EVENT_PREFETCH: integer({ min: 1, max: 1000, default: 16 }),
  /** Delays before each redelivery of an event whose handler failed; then the DLQ. */
  MEL_CATALOG_EVENT_RETRY_DELAYS_MS: millisecondsList([1000, 5000, 10_000]),
  /** The outbox relay's fallback poll (it is woken on every commit). */
  MEL_CATALOG_OUTBOX_POLL_MS: durationMs(1000),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_CATALOG_DRAIN_MS: durationMs(10_000),
  ...tokenTrustEnv,
});

export type CatalogEnv = z.output<typeof catalogEnv>;

export interface CatalogConfig {
  logLevel: CatalogEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  databaseUrl: string;
  databaseMaxConnections: number;
  seedDemoData: boolean;
  rabbitMqUrl: string;
  exchange: string;
  queue: string;
  quorumQueues: boolean;
  eventPrefetch: number;
  eventRetryDelaysMs: number[];
  outboxPollMs: number;
  drainMs: number;
  /** Token trust (issuer, audience, identity's address for the JWKS), as platform/auth reads it. */
  trust: Pick<CatalogEnv, keyof typeof tokenTrustEnv>;
}

/** Parses and validates catalog's variables from `env`; throws ConfigError naming each bad one. */
export function loadCatalogConfig(env: Env = process.env): CatalogConfig {
  const parsed = parseConfig(catalogEnv, env);
  const trust = Object.fromEntries(Object.keys(tokenTrustEnv).map((key) => [key, parsed[key as keyof CatalogEnv]])) as CatalogConfig["trust"];
  return {
    logLevel: parsed.MEL_LOG_LEVEL,
    host: parsed.MEL_CATALOG_HOST,
    port: parsed.MEL_CATALOG_PORT,
    databaseUrl: parsed.MEL_CATALOG_DATABASE_URL,
    databaseMaxConnections: parsed.MEL_CATALOG_DATABASE_MAX_CONNECTIONS,
    seedDemoData: parsed.MEL_CATALOG_SEED_DEMO_DATA,
    rabbitMqUrl: parsed.MEL_RABBITMQ_URL,
    exchange: parsed.MEL_EVENTS_EXCHANGE,
    queue: parsed.MEL_CATALOG_QUEUE,
    quorumQueues: parsed.MEL_CATALOG_QUORUM_QUEUES,
    eventPrefetch: parsed.MEL_CATALOG_EVENT_PREFETCH,
    eventRetryDelaysMs: parsed.MEL_CATALOG_EVENT_RETRY_DELAYS_MS,
    outboxPollMs: parsed.MEL_CATALOG_OUTBOX_POLL_MS,
    drainMs: parsed.MEL_CATALOG_DRAIN_MS,
    trust,
  };
}
