// Identity's configuration: every MEL_IDENTITY_* variable (and the shared token
// ones), validated once in main.ts and passed down as a typed object.
import { z } from "zod";
import { tokenClaimsEnv } from "../../platform/auth/index.js";
import { ConfigError, defaultPorts, durationMs, type Env, integer, logLevel, oneOf, parseConfig, port, text } from "../../platform/config/index.js";
import { type PublisherConfig, publisherConfigFrom, publisherEnv } from "../../platform/events/index.js";
import { type GrpcServerTransportConfig, grpcServerEnv, grpcServerTransportFrom } from "../../platform/grpc/index.js";
import type { LogLevel } from "../../platform/log/index.js";
import type { AccessTokenSettings } from "./access-token.js";
import type { LoginThrottlePolicy } from "./login-throttle.js";
import { owaspScryptParams, type ScryptParams } from "./password-hash.js";
import { type SigningAlgorithm, signingAlgorithms } from "./signing-key.js";
import type { PasswordPolicy } from "./user.js";

const day = 24 * 3_600_000;

export const identityEnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  MEL_ENV: z.string().optional(),
  MEL_LOG_LEVEL: logLevel(),
  MEL_IDENTITY_HOST: text("0.0.0.0"),
  MEL_IDENTITY_PORT: port(defaultPorts.identity),
  MEL_IDENTITY_DATABASE_URL: text("sqlite:data/identity.db"),
  /** Most connections to a database server (PostgreSQL, SQL Server). */
  MEL_IDENTITY_DATABASE_MAX_CONNECTIONS: integer({ min: 1, max: 200, default: 10 }),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_IDENTITY_DRAIN_TIMEOUT: durationMs(10_000),
  /** Where SessionRevoked events go (through identity's outbox). */
  ...publisherEnv("IDENTITY"),
  ...tokenClaimsEnv,
  MEL_IDENTITY_ACCESS_TOKEN_TTL: durationMs(15 * 60_000),
  MEL_IDENTITY_REFRESH_TOKEN_TTL: durationMs(7 * day),
  MEL_IDENTITY_SIGNING_ALGORITHM: oneOf(signingAlgorithms, "ES256"),
  /** A new signing key this often; 0 turns scheduled rotation off. */
  MEL_IDENTITY_KEY_ROTATION_INTERVAL: durationMs(7 * day),
  /** 32 bytes (base64 or hex) sealing private keys at rest; required in production. */
  MEL_IDENTITY_KEY_ENCRYPTION_KEY: z.string().optional(),
  /** Outside production, where a generated key-encryption key is kept between runs. */
  MEL_IDENTITY_DEV_KEY_FILE: text("data/identity-dev-key-encryption-key"),
  MEL_IDENTITY_PASSWORD_MIN_LENGTH: integer({ min: 8, max: 128, default: 8 }),
  /** scrypt cost as log2(N); OWASP's 17 by default. */
  MEL_IDENTITY_PASSWORD_HASH_COST: integer({ min: 10, max: 20, default: owaspScryptParams.logN }),
  MEL_IDENTITY_LOGIN_MAX_FAILURES: integer({ min: 1, max: 1000, default: 5 }),
  MEL_IDENTITY_LOGIN_FAILURE_WINDOW: durationMs(15 * 60_000),
  MEL_IDENTITY_LOGIN_LOCKOUT: durationMs(15 * 60_000),
  MEL_IDENTITY_ADMIN_EMAIL: text("admin@lojasmel.local"),
  /** The demo admin's password; no admin is seeded without it. Only ever from the environment. */
  MEL_IDENTITY_ADMIN_PASSWORD: z.string().optional(),
  ...grpcServerEnv,
});

export interface IdentityConfig {
  production: boolean;
  logLevel: LogLevel;
  host: string;
  port: number;
  databaseUrl: string;
  databaseMaxConnections: number;
  drainMs: number;
  /** The broker, exchange and outbox poll for SessionRevoked events. */
  messaging: PublisherConfig;
  tokens: AccessTokenSettings & { clockSkewSeconds: number; refreshTtlSeconds: number };
  signingAlgorithm: SigningAlgorithm;
  /** 0 = no scheduled rotation. */
  keyRotationIntervalMs: number;
  /** The raw MEL_IDENTITY_KEY_ENCRYPTION_KEY, parsed by resolveKeyEncryptionKey. */
  keyEncryptionKey: string | undefined;
  devKeyFile: string;
  passwordPolicy: PasswordPolicy;
  scrypt: ScryptParams;
  loginThrottle: LoginThrottlePolicy;
  admin: { email: string; password: string | undefined };
  /** Plaintext or mutual TLS, connection age, health port (MEL_GRPC_*). */
  grpc: GrpcServerTransportConfig;
}

function seconds(variable: string, ms: number, problems: string[]): number {
  if (ms < 1000) problems.push(`${variable}: must be at least 1s, got ${ms}ms`);
  return Math.max(1, Math.round(ms / 1000));
}

/** Parses identity's environment; ConfigError lists every bad variable. */
export function loadIdentityConfig(env: Env = process.env): IdentityConfig {
  const raw = parseConfig(identityEnvSchema, env);
  const production = raw.NODE_ENV === "production" || raw.MEL_ENV === "production";
  const problems: string[] = [];
  if (production && raw.MEL_IDENTITY_KEY_ENCRYPTION_KEY === undefined) {
    problems.push(
      "MEL_IDENTITY_KEY_ENCRYPTION_KEY: is required in production (NODE_ENV or MEL_ENV is production): 32 random bytes as base64, e.g. from `openssl rand -base64 32`",
    );
  }
  if (production && raw.MEL_IDENTITY_PASSWORD_HASH_COST < owaspScryptParams.logN) {
    problems.push(
      `MEL_IDENTITY_PASSWORD_HASH_COST: must be at least ${owaspScryptParams.logN} in production (OWASP), got ${raw.MEL_IDENTITY_PASSWORD_HASH_COST}`,
    );
  }
  const config: IdentityConfig = {
    production,
    logLevel: raw.MEL_LOG_LEVEL,
    host: raw.MEL_IDENTITY_HOST,
    port: raw.MEL_IDENTITY_PORT,
    databaseUrl: raw.MEL_IDENTITY_DATABASE_URL,
    databaseMaxConnections: raw.MEL_IDENTITY_DATABASE_MAX_CONNECTIONS,
    drainMs: raw.MEL_IDENTITY_DRAIN_TIMEOUT,
    messaging: publisherConfigFrom(raw, "IDENTITY"),
    tokens: {
      issuer: raw.MEL_TOKEN_ISSUER,
      audience: raw.MEL_TOKEN_AUDIENCE,
      ttlSeconds: seconds("MEL_IDENTITY_ACCESS_TOKEN_TTL", raw.MEL_IDENTITY_ACCESS_TOKEN_TTL, problems),
      refreshTtlSeconds: seconds("MEL_IDENTITY_REFRESH_TOKEN_TTL", raw.MEL_IDENTITY_REFRESH_TOKEN_TTL, problems),
      clockSkewSeconds: Math.round(raw.MEL_TOKEN_CLOCK_SKEW / 1000),
    },
    signingAlgorithm: raw.MEL_IDENTITY_SIGNING_ALGORITHM,
    keyRotationIntervalMs: raw.MEL_IDENTITY_KEY_ROTATION_INTERVAL,
    keyEncryptionKey: raw.MEL_IDENTITY_KEY_ENCRYPTION_KEY,
    devKeyFile: raw.MEL_IDENTITY_DEV_KEY_FILE,
    passwordPolicy: { minLength: raw.MEL_IDENTITY_PASSWORD_MIN_LENGTH },
    scrypt: { ...owaspScryptParams, logN: raw.MEL_IDENTITY_PASSWORD_HASH_COST },
    loginThrottle: {
      maxFailures: raw.MEL_IDENTITY_LOGIN_MAX_FAILURES,
      windowSeconds: seconds("MEL_IDENTITY_LOGIN_FAILURE_WINDOW", raw.MEL_IDENTITY_LOGIN_FAILURE_WINDOW, problems),
      lockoutSeconds: seconds("MEL_IDENTITY_LOGIN_LOCKOUT", raw.MEL_IDENTITY_LOGIN_LOCKOUT, problems),
    },
    admin: { email: raw.MEL_IDENTITY_ADMIN_EMAIL, password: raw.MEL_IDENTITY_ADMIN_PASSWORD },
    grpc: grpcServerTransportFrom(raw),
  };
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`, problems);
  return config;
}
