// Catalog's configuration: the MEL_* variables it reads, validated once in
// main.ts (a bad value stops the process naming the variable).
import { z } from "zod";
import { type TokenTrustEnv, tokenTrustEnv, tokenTrustFrom } from "../../platform/auth/index.js";
import { boolean, defaultPorts, durationMs, type Env, integer, logLevel, parseConfig, port, text } from "../../platform/config/index.js";
import { type MessagingConfig, messagingConfigFrom, messagingEnv } from "../../platform/events/index.js";
import { type GrpcServerTransportConfig, grpcServerEnv, grpcServerTransportFrom } from "../../platform/grpc/index.js";

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
  ...messagingEnv("CATALOG"),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_CATALOG_DRAIN_TIMEOUT: durationMs(10_000),
  ...tokenTrustEnv,
  ...grpcServerEnv,
});

export type CatalogEnv = z.output<typeof catalogEnv>;

export interface CatalogConfig extends MessagingConfig {
  logLevel: CatalogEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  databaseUrl: string;
  databaseMaxConnections: number;
  seedDemoData: boolean;
  drainMs: number;
  /** Token trust (issuer, audience, identity's address for the JWKS), as platform/auth reads it. */
  trust: TokenTrustEnv;
  /** Plaintext or mutual TLS, connection age, health port (MEL_GRPC_*). */
  grpc: GrpcServerTransportConfig;
}

/** Parses and validates catalog's variables from `env`; throws ConfigError naming each bad one. */
export function loadCatalogConfig(env: Env = process.env): CatalogConfig {
  const parsed = parseConfig(catalogEnv, env);
  return {
    logLevel: parsed.MEL_LOG_LEVEL,
    host: parsed.MEL_CATALOG_HOST,
    port: parsed.MEL_CATALOG_PORT,
    databaseUrl: parsed.MEL_CATALOG_DATABASE_URL,
    databaseMaxConnections: parsed.MEL_CATALOG_DATABASE_MAX_CONNECTIONS,
    seedDemoData: parsed.MEL_CATALOG_SEED_DEMO_DATA,
    ...messagingConfigFrom(parsed, "CATALOG"),
    drainMs: parsed.MEL_CATALOG_DRAIN_TIMEOUT,
    trust: tokenTrustFrom(parsed),
    grpc: grpcServerTransportFrom(parsed),
  };
}
