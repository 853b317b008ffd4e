// Token trust in one piece for a service's main.ts: where the keys come from,
// their cache, the verifier and the authenticate function implementService takes.

import type { ChannelCredentials } from "@grpc/grpc-js";
import { IdentityServiceClient } from "../../gen/mel/identity/v1/identity.js";
import type { EventBus } from "../events/index.js";
import { type Authenticate, callUnary, createClient } from "../grpc/index.js";
import type { Logger } from "../log/index.js";
import { createAuthenticate } from "./authenticate.js";
import { jwksSourceFromGetJwks } from "./identity-jwks.js";
import { type CachedKeySet, createCachedKeySet, type JwksSource } from "./key-set.js";
import { startSessionRevocationFeed } from "./session-revocation-feed.js";
import { createSessionRevocations, type SessionRevocations } from "./session-revocations.js";
import { createTokenVerifier, type TokenVerifier } from "./token-verifier.js";

export interface TokenTrustOptions {
  /** Where keys come from: identityJwksSource(…) in services, identity's own key ring inside identity. */
  jwks: JwksSource;
  issuer: string;
  audience: string;
  clockSkewSeconds?: number;
  jwksMaxAgeMs?: number;
  unknownKidCooldownMs?: number;
  /** Signed-out sessions whose tokens are refused; none when absent. */
  revokedSessions?: Pick<SessionRevocations, "has">;
  logger?: Logger;
}

export interface TokenTrust {
  authenticate: Authenticate;
  verifier: TokenVerifier;
  keys: CachedKeySet;
}

export function createTokenTrust(options: TokenTrustOptions): TokenTrust {
  const keys = createCachedKeySet(options.jwks, {
    ...(options.jwksMaxAgeMs === undefined ? {} : { maxAgeMs: options.jwksMaxAgeMs }),
    ...(options.unknownKidCooldownMs === undefined ? {} : { unknownKidCooldownMs: options.unknownKidCooldownMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const verifier = createTokenVerifier({
    keys,
    issuer: options.issuer,
    audience: options.audience,
    ...(options.clockSkewSeconds === undefined ? {} : { clockSkewSeconds: options.clockSkewSeconds }),
    ...(options.revokedSessions === undefined ? {} : { revokedSessions: options.revokedSessions }),
  });
  return { authenticate: createAuthenticate(verifier), verifier, keys };
}

export interface IdentityJwksSourceOptions {
  /** MEL_IDENTITY_ADDRESS: "host:port", several for round robin, or a grpc-js target. */
  target: string;
  logger: Logger;
  /** Deadline of one GetJwks call. Default 3000 ms. */
  deadlineMs?: number;
  /** Mutual TLS to identity (platform/grpc transport); plaintext when omitted. */
  credentials?: ChannelCredentials;
}

export interface IdentityJwksSource {
  source: JwksSource;
  /** Closes the channel to identity. */
  close(): void;
}

/** Keys from IdentityService.GetJwks over the platform's gRPC client (retried: GetJwks is idempotent). */
export function identityJwksSource(options: IdentityJwksSourceOptions): IdentityJwksSource {
  const { client } = createClient(IdentityServiceClient, {
    upstream: "identity",
    target: options.target,
    defaultDeadlineMs: options.deadlineMs ?? 3000,
    logger: options.logger,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  return { source: jwksSourceFromGetJwks(() => callUnary(client, "getJwks", {})), close: () => client.close() };
}

/** The token-trust variables as parsed from tokenTrustEnv (spread into a service's config schema). */
export interface TokenTrustEnv {
  MEL_TOKEN_ISSUER: string;
  MEL_TOKEN_AUDIENCE: string;
  /** ms */
  MEL_TOKEN_CLOCK_SKEW: number;
  MEL_IDENTITY_ADDRESS: string;
  /** ms */
  MEL_JWKS_MAX_AGE: number;
  /** ms */
  MEL_JWKS_UNKNOWN_KID_COOLDOWN: number;
}

/** An Authenticate that also owns a channel to identity; close() it on shutdown. */
export type ServiceAuthenticate = Authenticate & {
  /** The signed-out sessions it refuses: empty until something (startSessionRevocationFeed) fills it. */
  revocations: SessionRevocations;
  close(): void;
};

/**
 * Tokens verified against the JWKS fetched from IdentityService.GetJwks at
 * MEL_IDENTITY_ADDRESS, refusing the sessions in its `revocations`. Services
 * use startServiceAuthenticate, which also keeps those current.
 */
export function createServiceAuthenticate(
  trust: TokenTrustEnv,
  logger: Logger,
  options: {
    /** Mutual TLS to identity for the JWKS (MEL_GRPC_TLS_*); plaintext when absent. */
    credentials?: ChannelCredentials;
    revocations?: SessionRevocations;
  } = {},
): ServiceAuthenticate {
  // A token is accepted up to the clock skew past its exp, so its revocation is kept that much longer.
  const revocations = options.revocations ?? createSessionRevocations({ graceMs: trust.MEL_TOKEN_CLOCK_SKEW });
  const jwks = identityJwksSource({ target: trust.MEL_IDENTITY_ADDRESS, logger, ...(options.credentials ? { credentials: options.credentials } : {}) });
  const { authenticate } = createTokenTrust({
    jwks: jwks.source,
    issuer: trust.MEL_TOKEN_ISSUER,
    audience: trust.MEL_TOKEN_AUDIENCE,
    clockSkewSeconds: Math.round(trust.MEL_TOKEN_CLOCK_SKEW / 1000),
    jwksMaxAgeMs: trust.MEL_JWKS_MAX_AGE,
    unknownKidCooldownMs: trust.MEL_JWKS_UNKNOWN_KID_COOLDOWN,
    revokedSessions: revocations,
    logger,
  });
  return Object.assign(authenticate, { revocations, close: jwks.close });
}

/**
 * What a server waits on before it reports itself ready (GrpcServer.readyWhen):
 * the signed-out sessions loaded, for an Authenticate from
 * startServiceAuthenticate; nothing for one given by a caller (tests).
 */
export function whenSessionsLoaded(authenticate: Authenticate | RunningServiceAuthenticate): Promise<void> {
  return "revocations" in authenticate ? authenticate.revocations.whenLoaded() : Promise.resolve();
}

/** The Authenticate of a running service, with the feed of signed-out sessions it owns; close() it on shutdown. */
export type RunningServiceAuthenticate = Authenticate & { revocations: SessionRevocations; close(): Promise<void> };

/**
 * What a service other than identity passes to implementService, ready to
 * serve: createServiceAuthenticate, with its revocations loaded from identity
 * and kept current by SessionRevoked events on an instance queue under
 * `queue` (see startSessionRevocationFeed): until identity has answered, it
 * refuses every token as UNAVAILABLE rather than accept a signed-out one.
 */
export async function startServiceAuthenticate(
  trust: TokenTrustEnv,
  options: { bus: Pick<EventBus, "subscribe">; queue: string; logger: Logger; credentials?: ChannelCredentials },
): Promise<RunningServiceAuthenticate> {
  const revocations = createSessionRevocations({ graceMs: trust.MEL_TOKEN_CLOCK_SKEW, loaded: false });
  const authenticate = createServiceAuthenticate(trust, options.logger, { revocations, ...(options.credentials ? { credentials: options.credentials } : {}) });
  const closeJwks = authenticate.close;
  try {
    const feed = await startSessionRevocationFeed({
      bus: options.bus,
      queue: options.queue,
      identityTarget: trust.MEL_IDENTITY_ADDRESS,
      revocations: authenticate.revocations,
      logger: options.logger,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
    return Object.assign(authenticate, {
      close: async () => {
        await feed.close();
        closeJwks();
      },
    });
  } catch (error) {
    closeJwks();
    throw error;
  }
}
