// Keeps a service instance's SessionRevocations current: SessionRevoked events
// on a queue of this instance's own (every instance must hear every sign-out,
// where a work queue would tell only one of them), and, at start, the
// revocations identity still holds, so sign-outs made while this instance was
// down are refused too. The queue is subscribed before the list is read, so a
// sign-out made in between is in one or the other (or both: adding is
// idempotent). When identity does not answer at start, the list is asked for
// again with back-off; until it is in, the revocations refuse every token as
// UNAVAILABLE, and the server's health (GrpcServer.readyWhen, wired in each
// service's main.ts) reports NOT_SERVING, so it gets no traffic meanwhile.
import type { ChannelCredentials } from "@grpc/grpc-js";
import { ExponentialBackoff, handleAll, retry } from "cockatiel";
import type { SessionRevoked } from "../../gen/mel/events/v1/identity_events.js";
import { SessionRevocationServiceClient } from "../../gen/mel/identity/v1/session_revocations.js";
import type { EventBus, EventHandler, Subscription } from "../events/index.js";
import { instanceQueueName } from "../events/index.js";
import { callUnary, createClient } from "../grpc/index.js";
import type { Logger } from "../log/index.js";
import type { SessionRevocations } from "./session-revocations.js";

/** Adds each revoked session to `revocations`; memory only, so it cannot fail on I/O (instance queues have no retries). */
export function createSessionRevokedHandler(revocations: SessionRevocations, logger: Logger): EventHandler<SessionRevoked> {
  return async (event, meta) => {
    if (event.sessionId === "" || event.accessExpireTime === undefined) {
      logger.warn({ eventId: meta.eventId }, "SessionRevoked without session_id or access_expire_time ignored");
      return;
    }
    revocations.add(event.sessionId, event.accessExpireTime);
    logger.debug({ eventId: meta.eventId, userId: event.userId }, "session signed out: its access tokens are refused from now on");
  };
}

export interface SessionRevocationFeedOptions {
  bus: Pick<EventBus, "subscribe">;
  /** The service's work queue (`<service>.events`): the instance queue is named under it. */
  queue: string;
  /** MEL_IDENTITY_ADDRESS, where SessionRevocationService answers. */
  identityTarget: string;
  revocations: SessionRevocations;
  logger: Logger;
  /** How long the broker keeps the instance queue after this instance is gone. Default 5 minutes. */
  instanceQueueExpiresMs?: number;
  /** Revocations asked for per ListSessionRevocations page. Default 1000. */
  pageSize?: number;
  /** Deadline of one ListSessionRevocations call. Default 5000 ms. */
  deadlineMs?: number;
  /** Mutual TLS to identity (MEL_GRPC_TLS_*); plaintext when absent. */
  credentials?: ChannelCredentials;
}

export interface SessionRevocationFeed {
  /** This instance's queue. */
  readonly queue: string;
  /** Stops consuming and closes the channel to identity. */
  close(): Promise<void>;
}

/**
 * Subscribes this instance to SessionRevoked, then loads every revocation
 * identity still holds and marks `revocations` loaded. Resolves after the
 * first attempt: when it failed, later ones go on in the background (see the
 * file comment). Rejects only when the subscription cannot be made.
 */
export async function startSessionRevocationFeed(options: SessionRevocationFeedOptions): Promise<SessionRevocationFeed> {
  const { revocations, logger } = options;
  const subscription: Subscription = await options.bus.subscribe({
    queue: instanceQueueName(options.queue),
    handlers: { SessionRevoked: createSessionRevokedHandler(revocations, logger) },
    instance: options.instanceQueueExpiresMs === undefined ? {} : { expiresMs: options.instanceQueueExpiresMs },
  });
  const { client } = createClient(SessionRevocationServiceClient, {
    upstream: "identity",
    target: options.identityTarget,
    defaultDeadlineMs: options.deadlineMs ?? 5000,
    logger,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  async function load(signal?: AbortSignal): Promise<void> {
    let pageToken = "";
    let loaded = 0;
    do {
      const page = await callUnary(client, "listSessionRevocations", { pageSize: options.pageSize ?? 1000, pageToken }, signal ? { signal } : {});
      for (const revocation of page.revocations) {
        if (revocation.accessExpireTime === undefined) continue;
        revocations.add(revocation.sessionId, revocation.accessExpireTime);
        loaded++;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    revocations.markLoaded();
    logger.info({ queue: subscription.queue, loaded }, "signed-out sessions loaded from identity; later sign-outs arrive as events");
  }

  const stopRetrying = new AbortController();
  let retrying: Promise<void> | undefined;
  try {
    await load();
  } catch (error) {
    logger.warn(
      { identity: options.identityTarget, err: error instanceof Error ? error.message : String(error) },
      "cannot load the signed-out sessions from identity; access tokens are refused as UNAVAILABLE until they are loaded",
    );
    const policy = retry(handleAll, { maxAttempts: Number.POSITIVE_INFINITY, backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: 10_000 }) });
    policy.onFailure(({ reason }) => logger.warn({ err: "error" in reason ? String(reason.error) : "" }, "signed-out sessions still not loaded; retrying"));
    retrying = policy
      .execute(({ signal }) => load(signal), stopRetrying.signal)
      .catch(() => {
        // Only an abort (close) ends the retries.
      });
  }
  return {
    queue: subscription.queue,
    async close() {
      stopRetrying.abort();
      await retrying;
      client.close();
      await subscription.close();
    },
  };
}
