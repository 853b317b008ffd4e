// Errors the bus hands to its callers. Each says what happened to the message
// so the caller (the outbox relay, an RPC client) can decide to retry.

export type PublishFailure = "nacked" | "unroutable" | "timeout" | "channel-closed" | "unavailable";

/** A publish the broker did not take responsibility for; the message may be retried. */
export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(
    readonly reason: PublishFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No reply to a request within its timeout (or the connection dropped while waiting). */
export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";
}

/** The server of a request answered with an error instead of a reply. */
export class RemoteRequestError extends Error {
  override readonly name = "RemoteRequestError";
}
