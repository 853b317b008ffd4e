// Request/reply (RPC) over RabbitMQ: the request carries reply_to
// and correlation_id; the server answers to reply_to with the same
// correlation_id. Replies use direct reply-to (amq.rabbitmq.reply-to), so no
// reply queue is declared: the client consumes the pseudo-queue (no-ack) on
// the channel it publishes requests from, which RabbitMQ requires.
import { randomUUID } from "node:crypto";
import type { Channel, ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import { ConfirmPublisher } from "./confirm-publisher.js";
import { type BrokerLink, errorMessage, ManagedChannel } from "./connection.js";
import type { Subscription } from "./consumer.js";
import { RemoteRequestError, RequestTimeoutError } from "./errors.js";
import type { MessageCodec } from "./event-types.js";

const directReplyTo = "amq.rabbitmq.reply-to";
const errorHeader = "x-mel-error";
const contentType = "application/x-protobuf";

export interface RequestOptions {
  /** How long to wait for the reply. Default: the bus's request timeout. */
  timeoutMs?: number;
  correlationId?: string;
  traceparent?: string;
}

interface PendingRequest {
  resolve(body: Buffer): void;
  reject(error: Error): void;
}

export class RequestClient {
  readonly #pending = new Map<string, PendingRequest>();
  readonly #publisher: ConfirmPublisher;

  constructor(
    link: BrokerLink,
    private readonly defaultTimeoutMs: number,
  ) {
    this.#publisher = new ConfirmPublisher(link, {
      name: "request client",
      timeoutMs: defaultTimeoutMs,
      setup: async (channel: ConfirmChannel) => {
        await channel.consume(directReplyTo, (message) => this.onReply(message), { noAck: true });
      },
      // Replies are tied to the channel that sent the request: when it goes,
      // no reply can arrive any more, so waiting callers are told now.
      onClosed: () =>
        this.failAll(new RequestTimeoutError("the RabbitMQ channel closed before the reply arrived; the request may or may not have been handled")),
    });
  }

  private onReply(message: ConsumeMessage | null): void {
    if (!message) return;
    const id = String(message.properties.correlationId ?? "");
    const pending = this.#pending.get(id);
    if (!pending) return; // Late reply to a request that already timed out.
    this.#pending.delete(id);
    const remoteError = message.properties.headers?.[errorHeader];
    if (remoteError !== undefined) pending.reject(new RemoteRequestError(String(remoteError)));
    else pending.resolve(message.content);
  }

  private failAll(error: Error): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(error);
    }
  }

  /**
   * Sends `request` to `queue` and resolves with the decoded reply. Rejects with
   * PublishError when no queue of that name exists (unroutable), RequestTimeoutError
   * when no reply comes in time, RemoteRequestError when the server failed.
   */
  async request<Req, Res>(
    queue: string,
    requestCodec: MessageCodec<Req>,
    request: Req,
    replyCodec: MessageCodec<Res>,
    options: RequestOptions = {},
  ): Promise<Res> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const correlationId = randomUUID();
    const started = Date.now();
    const reply = new Promise<Buffer>((resolve, reject) => this.#pending.set(correlationId, { resolve, reject }));
    reply.catch(() => undefined); // Observed below; a rejection before then must not go unhandled.
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.#publisher.publish(
        {
          exchange: "",
          routingKey: queue,
          body: requestCodec.encode(request).finish(),
          properties: {
            messageId: correlationId,
            correlationId,
            replyTo: directReplyTo,
            contentType,
            timestamp: Math.floor(Date.now() / 1000),
            // A request nobody picks up in time is worthless: let the queue drop it.
            expiration: String(timeoutMs),
            headers: {
              ...(options.correlationId ? { "correlation-id": options.correlationId } : {}),
              ...(options.traceparent ? { traceparent: options.traceparent } : {}),
            },
          },
        },
        timeoutMs,
      );
      const remaining = Math.max(1, timeoutMs - (Date.now() - started));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RequestTimeoutError(`no reply from ${queue} within ${timeoutMs} ms`)), remaining);
      });
      return replyCodec.decode(await Promise.race([reply, timeout]));
    } finally {
      clearTimeout(timer);
      this.#pending.delete(correlationId);
    }
  }

  close(): Promise<void> {
    this.failAll(new RequestTimeoutError("the event bus closed before the reply arrived"));
    return this.#publisher.close();
  }
}

export interface ServeOptions<Req, Res> {
  /** The queue requests are sent to; declared non-durable (requests expire anyway). */
  queue: string;
  requestCodec: MessageCodec<Req>;
  replyCodec: MessageCodec<Res>;
  handler: (request: Req, meta: { correlationId: string | undefined; traceparent: string | undefined }) => Promise<Res>;
  /** Requests handled at once. Default 8. */
  prefetch?: number;
}

/** Answers requests on `queue` until the returned subscription is closed. */
export async function serveRequests<Req, Res>(
  link: BrokerLink,
  logger: Logger,
  startTimeoutMs: number,
  options: ServeOptions<Req, Res>,
): Promise<Subscription> {
  const { queue } = options;
  const inFlight = new Set<Promise<void>>();
  let consumerTag: string | undefined;

  async function answer(channel: Channel, message: ConsumeMessage): Promise<void> {
    const { replyTo, correlationId } = message.properties;
    const headers = message.properties.headers ?? {};
    let body: Uint8Array = new Uint8Array();
    let failure: string | undefined;
    try {
      const request = options.requestCodec.decode(message.content);
      const reply = await options.handler(request, {
        correlationId: headers["correlation-id"] === undefined ? undefined : String(headers["correlation-id"]),
        traceparent: headers.traceparent === undefined ? undefined : String(headers.traceparent),
      });
      body = options.replyCodec.encode(reply).finish();
    } catch (error) {
      failure = errorMessage(error);
      logger.warn({ queue, correlationId, err: failure }, "request handler failed; answering with the error");
    }
    try {
      if (replyTo) {
        channel.sendToQueue(String(replyTo), Buffer.from(body), {
          correlationId: String(correlationId ?? ""),
          contentType,
          ...(failure !== undefined ? { headers: { [errorHeader]: failure.slice(0, 2000) } } : {}),
        });
      } else {
        logger.warn({ queue, correlationId }, "request without reply_to; nothing to answer");
      }
      channel.ack(message);
    } catch (error) {
      logger.warn({ queue, correlationId, err: errorMessage(error) }, "could not answer a request (channel closed)");
    }
  }

  const channel = new ManagedChannel<Channel>(link, {
    name: `request server ${queue}`,
    confirm: false,
    setup: async (fresh) => {
      await fresh.assertQueue(queue, { durable: false });
      await fresh.prefetch(options.prefetch ?? 8);
      const reply = await fresh.consume(
        queue,
        (message) => {
          if (!message) return void fresh.close().catch(() => undefined);
          const work = answer(fresh, message).catch((error: unknown) => logger.error({ queue, err: errorMessage(error) }, "request delivery failed"));
          inFlight.add(work);
          void work.finally(() => inFlight.delete(work));
        },
        { noAck: false },
      );
      consumerTag = reply.consumerTag;
    },
  });
  if (!(await channel.waitForChannel(startTimeoutMs))) {
    await channel.close();
    throw new Error(`could not start serving requests on ${queue} within ${startTimeoutMs} ms: ${channel.lastError ?? "no connection to RabbitMQ"}`);
  }
  return {
    queue,
    async close() {
      const current = channel.current;
      if (current && consumerTag) await current.cancel(consumerTag).catch(() => undefined);
      await Promise.allSettled([...inFlight]);
      await channel.close();
    },
  };
}
