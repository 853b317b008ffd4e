// The gateway's settings, read once from the environment in main.ts and passed
// down. Every variable is optional; a bad value stops the process with a
// message naming the variable.
import { z } from "zod";
import type { Env } from "../platform/config/index.js";
import { address, boolean, defaultPorts, durationMs, integer, list, logLevel, parseConfig, port, text } from "../platform/config/index.js";
import { type GrpcClientTransportConfig, grpcClientEnv, grpcClientTransportFrom } from "../platform/grpc/index.js";

export const gatewayEnv = z.object({
  MEL_LOG_LEVEL: logLevel(),
  MEL_GATEWAY_HOST: text("0.0.0.0"),
  /** HTTP/1.1 and HTTP/2 (h2c) on one port; 0 takes any free port. */
  MEL_GATEWAY_PORT: port(defaultPorts.gateway),
  MEL_IDENTITY_ADDRESS: address(`127.0.0.1:${defaultPorts.identity}`),
  MEL_CATALOG_ADDRESS: address(`127.0.0.1:${defaultPorts.catalog}`),
  MEL_BASKET_ADDRESS: address(`127.0.0.1:${defaultPorts.basket}`),
  MEL_ORDERING_ADDRESS: address(`127.0.0.1:${defaultPorts.ordering}`),
  /** Browser origins allowed to call the gateway ("*" for any); none when unset. */
  MEL_GATEWAY_CORS_ORIGINS: list([]),
  MEL_GATEWAY_BODY_LIMIT_BYTES: integer({ min: 1, default: 1024 * 1024 }),
  MEL_GATEWAY_GRPC_WEB_MAX_MESSAGE_BYTES: integer({ min: 1, default: 4 * 1024 * 1024 }),
  /** Deadline of an upstream call when the client sends no grpc-timeout. */
  MEL_GATEWAY_UPSTREAM_TIMEOUT: durationMs(10_000),
  /** A client's grpc-timeout is capped at this. */
  MEL_GATEWAY_MAX_TIMEOUT: durationMs(60_000),
  /** A client's grpc-timeout is raised to at least this. */
  MEL_GATEWAY_MIN_TIMEOUT: durationMs(1000),
  /** Deadline (default and cap) of a server-streaming call such as WatchOrder. */
  MEL_GATEWAY_STREAM_TIMEOUT: durationMs(30 * 60_000),
  MEL_GATEWAY_READINESS_TIMEOUT: durationMs(1000),
  /** Calls per client address and time window to each rate-limited RPC. */
  MEL_GATEWAY_AUTH_RATE_LIMIT_MAX: integer({ min: 1, default: 10 }),
  MEL_GATEWAY_AUTH_RATE_LIMIT_WINDOW: durationMs(60_000),
  MEL_GATEWAY_AUTH_RATE_LIMITED_METHODS: list(["mel.identity.v1.IdentityService/Login", "mel.identity.v1.IdentityService/Register"]),
  /** Behind a load balancer: take the client address from X-Forwarded-For. */
  MEL_GATEWAY_TRUST_PROXY: boolean(false),
  /** The storefront's built files (vite build output), served at /; a folder without index.html serves none. */
  MEL_GATEWAY_WEB_ROOT: text("web/dist"),
  ...grpcClientEnv,
});

export type GatewayEnv = z.output<typeof gatewayEnv>;

export interface GatewayConfig {
  logLevel: GatewayEnv["MEL_LOG_LEVEL"];
  host: string;
  port: number;
  /** Proto service full name → "host:port" (or several, or a gRPC target) of the service that implements it. */
  upstreams: Record<string, string>;
  /** Browser origins allowed to call the gateway ("*" allows any). Empty: none. */
  corsOrigins: string[];
  /** Largest HTTP/JSON request body, in bytes. */
  bodyLimitBytes: number;
  /** Largest gRPC-Web request message, in bytes. */
  grpcWebMaxMessageBytes: number;
  /** Deadline of an upstream call when the client sends no grpc-timeout. */
  defaultTimeoutMs: number;
  /** Cap on a client's grpc-timeout for unary calls. */
  maxTimeoutMs: number;
  /**
   * Floor on a client's grpc-timeout: the platform's circuit breaker counts
   * DEADLINE_EXCEEDED as an upstream failure, so tiny client deadlines must
   * not be able to open the circuit for everyone.
   */
  minTimeoutMs: number;
  /** Deadline (default and cap) of a server-streaming call such as WatchOrder. */
  streamTimeoutMs: number;
  readinessTimeoutMs: number;
  /** Per-client-address limit on the RPCs that guess passwords or create accounts. */
  authRateLimit: { max: number; windowMs: number; methods: string[] };
  /** Trust X-Forwarded-For (behind a load balancer) for the client address. */
  trustProxy: boolean;
  /** Folder of the built storefront served at / (index.html, assets/, pictures/); without index.html, no site. */
  webRoot: string;
  /** Plaintext or mutual TLS to the upstreams (MEL_GRPC_TLS_*). */
  grpc: GrpcClientTransportConfig;
}

/** Parses and validates the gateway's variables from `env`; throws ConfigError naming each bad one. */
export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const e = parseConfig(gatewayEnv, env);
  return {
    logLevel: e.MEL_LOG_LEVEL,
    host: e.MEL_GATEWAY_HOST,
    port: e.MEL_GATEWAY_PORT,
    upstreams: {
      "mel.identity.v1.IdentityService": e.MEL_IDENTITY_ADDRESS,
      "mel.catalog.v1.CatalogService": e.MEL_CATALOG_ADDRESS,
      "mel.basket.v1.BasketService": e.MEL_BASKET_ADDRESS,
      "mel.ordering.v1.OrderingService": e.MEL_ORDERING_ADDRESS,
    },
    corsOrigins: e.MEL_GATEWAY_CORS_ORIGINS,
    bodyLimitBytes: e.MEL_GATEWAY_BODY_LIMIT_BYTES,
    grpcWebMaxMessageBytes: e.MEL_GATEWAY_GRPC_WEB_MAX_MESSAGE_BYTES,
    defaultTimeoutMs: e.MEL_GATEWAY_UPSTREAM_TIMEOUT,
    maxTimeoutMs: e.MEL_GATEWAY_MAX_TIMEOUT,
    minTimeoutMs: e.MEL_GATEWAY_MIN_TIMEOUT,
    streamTimeoutMs: e.MEL_GATEWAY_STREAM_TIMEOUT,
    readinessTimeoutMs: e.MEL_GATEWAY_READINESS_TIMEOUT,
    authRateLimit: {
      max: e.MEL_GATEWAY_AUTH_RATE_LIMIT_MAX,
      windowMs: e.MEL_GATEWAY_AUTH_RATE_LIMIT_WINDOW,
      methods: e.MEL_GATEWAY_AUTH_RATE_LIMITED_METHODS,
    },
    trustProxy: e.MEL_GATEWAY_TRUST_PROXY,
    webRoot: e.MEL_GATEWAY_WEB_ROOT,
    grpc: grpcClientTransportFrom(e),
  };
}
