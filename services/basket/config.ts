// The basket service's configuration: the MEL_* variables it reads, validated
// once in main.ts (a bad value stops the process naming the variable).
import { z } from "zod";
import { type TokenTrustEnv, tokenTrustEnv, tokenTrustFrom } from "../../platform/auth/index.js";
import { address, ConfigError, defaultPorts, durationMs, type Env, integer, logLevel, parseConfig, port, text } from "../../platform/config/index.js";
import { type MessagingConfig, messagingConfigFrom, messagingEnv } from "../../platform/events/index.js";
import { type GrpcServerTransportConfig, grpcServerEnv, grpcServerTransportFrom } from "../../platform/grpc/index.js";
import type { BasketLimits } from "./basket.js";

export const basketEnv = z.object({
  /** NODE_ENV or MEL_ENV "production" makes MEL_BASKET_PAYMENT_TOKEN_KEY required. */
  NODE_ENV: z.string().optional(),
  MEL_ENV: z.string().optional(),
  MEL_LOG_LEVEL: logLevel(),
  /** Where the gRPC server listens; 0 takes any free port. */
  MEL_BASKET_HOST: text("0.0.0.0"),
  MEL_BASKET_PORT: port(defaultPorts.basket),
  MEL_BASKET_MONGODB_URL: z
    .string()
    // WHATWG URL cannot parse replica-set host lists ("a:1,b:2"), so only the scheme is checked here; the driver checks the rest.
    .regex(/^mongodb(\+srv)?:\/\/\S+$/, 'expected a MongoDB URL such as "mongodb://127.0.0.1:27017/mel-basket"')
    .default("mongodb://127.0.0.1:27017/mel-basket"),
  /** How long start-up, and then each basket call, waits for an unreachable MongoDB before giving up (calls then answer UNAVAILABLE). */
  MEL_BASKET_MONGODB_TIMEOUT: durationMs(10_000),
  MEL_CATALOG_ADDRESS: address(`127.0.0.1:${defaultPorts.catalog}`),
  /** Deadline of each catalog call that prices a basket. */
  MEL_BASKET_CATALOG_DEADLINE: durationMs(2000),
  MEL_ORDERING_ADDRESS: address(`127.0.0.1:${defaultPorts.ordering}`),
  /** Deadline of each ordering call that checks a voucher. */
  MEL_BASKET_ORDERING_DEADLINE: durationMs(2000),
  /** Most units of one product per basket line. */
  MEL_BASKET_MAX_LINE_QUANTITY: integer({ min: 1, max: 10_000, default: 99 }),
  /** Most products per basket; at most 100, the catalog's GetItemsByIds batch. */
  MEL_BASKET_MAX_LINES: integer({ min: 1, max: 100, default: 100 }),
  /** Conditional writes tried before a basket edited concurrently answers ABORTED. */
  MEL_BASKET_WRITE_ATTEMPTS: integer({ min: 1, max: 1000, default: 60 }),
  /**
   * Key of the HMAC-SHA256 that turns a card number into its payment token.
   * Required in production (NODE_ENV or MEL_ENV); elsewhere a random key is made at
   * start-up, with a warning (tokens then change with every restart).
   */
  MEL_BASKET_PAYMENT_TOKEN_KEY: z.string().min(32, "expected at least 32 characters (e.g. openssl rand -base64 48)").optional(),
  // Sent outbox entries live in the buyer's document, so they are kept an hour, not a week.
  ...messagingEnv("BASKET", { outboxRetentionMs: 60 * 60 * 1000 }),
  /**
   * How long the outbox relay's claim on a basket's entries holds. A basket
   * process that dies while publishing leaves its claim behind: those events
   * wait this long for the next relay. Keep it well above a publish's confirm.
   */
  MEL_BASKET_OUTBOX_CLAIM_TTL: durationMs(60_000),
  /** How long in-flight calls may finish on SIGTERM. */
  MEL_BASKET_DRAIN_TIMEOUT: durationMs(10_000),
  ...tokenTrustEnv,
  ...grpcServerEnv,
});

export type BasketEnv = z.output<typeof basketEnv>;

export interface BasketConfig extends MessagingConfig {
  production: boolean;
  logLevel: BasketEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  mongoUrl: string;
  mongoTimeoutMs: number;
  catalogAddress: string;
  catalogDeadlineMs: number;
  orderingAddress: string;
  orderingDeadlineMs: number;
  limits: BasketLimits;
  writeAttempts: number;
  /** Undefined outside production when MEL_BASKET_PAYMENT_TOKEN_KEY is unset: main.ts makes a random one. */
  paymentTokenKey: string | undefined;
  outboxClaimMs: number;
  drainMs: number;
  /** Token trust (issuer, audience, identity's address for the JWKS), as platform/auth reads it. */
  trust: TokenTrustEnv;
  /** Plaintext or mutual TLS, connection age, health port (MEL_GRPC_*). */
  grpc: GrpcServerTransportConfig;
}

/** Parses and validates the basket's variables from `env`; throws ConfigError naming each bad one. */
export function loadBasketConfig(env: Env = process.env): BasketConfig {
  const parsed = parseConfig(basketEnv, env);
  const production = parsed.NODE_ENV === "production" || parsed.MEL_ENV === "production";
  if (production && parsed.MEL_BASKET_PAYMENT_TOKEN_KEY === undefined) {
    const problem =
      "MEL_BASKET_PAYMENT_TOKEN_KEY: is required in production (NODE_ENV or MEL_ENV is production): at least 32 characters, e.g. from openssl rand -base64 48";
    throw new ConfigError(`invalid configuration:\n  ${problem}`, [problem]);
  }
  return {
    production,
    logLevel: parsed.MEL_LOG_LEVEL,
    host: parsed.MEL_BASKET_HOST,
    port: parsed.MEL_BASKET_PORT,
    mongoUrl: parsed.MEL_BASKET_MONGODB_URL,
    mongoTimeoutMs: parsed.MEL_BASKET_MONGODB_TIMEOUT,
    catalogAddress: parsed.MEL_CATALOG_ADDRESS,
    catalogDeadlineMs: parsed.MEL_BASKET_CATALOG_DEADLINE,
    orderingAddress: parsed.MEL_ORDERING_ADDRESS,
    orderingDeadlineMs: parsed.MEL_BASKET_ORDERING_DEADLINE,
    limits: { maxLineQuantity: parsed.MEL_BASKET_MAX_LINE_QUANTITY, maxLines: parsed.MEL_BASKET_MAX_LINES },
    writeAttempts: parsed.MEL_BASKET_WRITE_ATTEMPTS,
    paymentTokenKey: parsed.MEL_BASKET_PAYMENT_TOKEN_KEY,
    ...messagingConfigFrom(parsed, "BASKET"),
    outboxClaimMs: parsed.MEL_BASKET_OUTBOX_CLAIM_TTL,
    drainMs: parsed.MEL_BASKET_DRAIN_TIMEOUT,
    trust: tokenTrustFrom(parsed),
    grpc: grpcServerTransportFrom(parsed),
  };
}
