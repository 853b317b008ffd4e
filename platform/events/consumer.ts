// Consuming a service's queue: manual acks, bounded prefetch (the broker hands
// each competing consumer at most that many unacknowledged messages, so work
// spreads round-robin), one typed handler per event type, and the retry
// ladder. A failed handler's message is copied to the next retry queue (whose
// TTL sends it back) and only then acknowledged; after the last retry, or at
// once when it cannot be decoded or nobody handles its type, it is copied to
// `<queue>.dlq` with the reason. A copy that is not confirmed leaves the
// original unacknowledged, so the broker delivers it again: nothing is lost.
// An instance queue (broadcast events every instance must see) has no retry
// or dead-letter queues: a message its handler fails on is logged and dropped.
import type { Channel, ConsumeMessage, Message, Options } from "amqplib";
import type { Logger } from "pino";
import { activeTraceparent, type Delivery, failedAttemptHeader, markDeliveryOutcome, observeDeadLetterDepth, traceDelivery } from "../telemetry/index.js";
import type { ConfirmPublisher } from "./confirm-publisher.js";
import { type BrokerLink, errorMessage, ManagedChannel } from "./connection.js";
import { decodeEvent, type EventName, type EventOf, isEventName } from "./event-types.js";
import {
  deadLetterExchangeName,
  deadLetterQueueName,
  declareTopology,
  defaultRetryDelaysMs,
  instanceQueueTopology,
  retryQueueName,
  serviceQueueTopology,
} from "./topology.js";

/** What a handler knows about the delivery besides the event itself. */
export interface EventMeta {
  /** The AMQP message_id: the event's id, stable across retries and duplicates. */
  eventId: string;
  type: EventName;
  correlationId: string | undefined;
  traceparent: string | undefined;
  /** The broker delivered this message before (it may already have been handled). */
  redelivered: boolean;
  /** 1 on first delivery, 2 on the first retry, and so on. */
  attempt: number;
  occurredAt: Date | undefined;
}

export type EventHandler<E> = (event: E, meta: EventMeta) => Promise<void>;

export type EventHandlers = { [N in EventName]?: EventHandler<EventOf<N>> };

export interface SubscribeOptions {
  /** The service's queue, `<service>.events`; bound to the event types of `handlers`. */
  queue: string;
  handlers: EventHandlers;
  /** Most unacknowledged messages this consumer holds at once. Default 16. */
  prefetch?: number;
  /** Delays before each retry; after the last, the DLQ. Default 1 s, 5 s, 10 s. */
  retryDelaysMs?: readonly number[];
  /** Declare the queues as quorum queues. */
  quorum?: boolean;
  /**
   * Consume this instance's own queue (`queue` from instanceQueueName) instead
   * of the service's work queue, so every instance gets every event: for
   * broadcasts such as SessionRevoked, whose handlers update memory. The
   * broker deletes the queue `expiresMs` after its last consumer went
   * (default 5 minutes). There are no retries: a message a handler fails on is
   * logged and dropped, so such handlers must not do I/O that can fail.
   */
  instance?: { expiresMs?: number };
}

export interface Subscription {
  readonly queue: string;
  /** Stops taking messages, waits for handlers in progress, closes the channel. */
  close(): Promise<void>;
}

/** Headers the bus adds; replay strips them so a replayed message starts afresh. */
export const melHeaders = {
  attempt: "x-mel-attempt",
  error: "x-mel-error",
  attempts: "x-mel-attempts",
  failedAt: "x-mel-failed-at",
  queue: "x-mel-queue",
} as const;

const maxErrorHeaderLength = 2000;

/** The properties a copy of `message` keeps (retry, DLQ, replay); persistent, with `headers`. */
export function copyProperties(message: Message, headers: Record<string, unknown>): Options.Publish & { messageId: string } {
  const p = message.properties;
  return {
    messageId: String(p.messageId ?? ""),
    persistent: true,
    headers,
    ...(p.type !== undefined ? { type: String(p.type) } : {}),
    ...(p.timestamp !== undefined ? { timestamp: Number(p.timestamp) } : {}),
    ...(p.contentType !== undefined ? { contentType: String(p.contentType) } : {}),
    ...(p.contentEncoding !== undefined ? { contentEncoding: String(p.contentEncoding) } : {}),
    ...(p.correlationId !== undefined ? { correlationId: String(p.correlationId) } : {}),
    ...(p.appId !== undefined ? { appId: String(p.appId) } : {}),
  };
}

function headerString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
}

/** The process span of the attempt being handled, for the copy that retries or parks it to link back to. */
function failedAttempt(): Record<string, string> {
  const traceparent = activeTraceparent();
  return traceparent ? { [failedAttemptHeader]: traceparent } : {};
}

function deliveryOf(queue: string, message: ConsumeMessage): Delivery {
  const headers = message.properties.headers ?? {};
  return {
    queue,
    exchange: message.fields.exchange,
    routingKey: message.fields.routingKey,
    eventType: headerString(message.properties.type) ?? "",
    eventId: headerString(message.properties.messageId) ?? "",
    attempt: Math.max(1, Number(headers[melHeaders.attempt] ?? 1) || 1),
    correlationId: headerString(headers["correlation-id"]) ?? headerString(message.properties.correlationId),
    headers,
    bodySize: message.content.length,
  };
}

export interface ConsumerContext {
  link: BrokerLink;
  publisher: ConfirmPublisher;
  exchange: string;
  logger: Logger;
  /** How long subscribe() waits for the first channel before failing. */
  startTimeoutMs: number;
}

export async function startConsumer(context: ConsumerContext, options: SubscribeOptions): Promise<Subscription> {
  const { link, publisher, exchange, logger } = context;
  const { queue, handlers } = options;
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const eventTypes = Object.keys(handlers).filter((name) => handlers[name as EventName] !== undefined);
  const unknown = eventTypes.filter((name) => !isEventName(name));
  if (unknown.length > 0) throw new Error(`queue ${queue}: no integration event named ${unknown.join(", ")}`);
  if (eventTypes.length === 0) throw new Error(`queue ${queue}: subscribe needs at least one handler`);
  const instance = options.instance;
  const topology = instance
    ? instanceQueueTopology({ exchange, queue, eventTypes, ...(instance.expiresMs === undefined ? {} : { expiresMs: instance.expiresMs }) })
    : serviceQueueTopology({ exchange, queue, eventTypes, retryDelaysMs, quorum: options.quorum ?? false });
  const inFlight = new Set<Promise<void>>();
  let consumerTag: string | undefined;
  let closing = false;

  async function settleCopy(channel: Channel, message: ConsumeMessage, route: { exchange: string; routingKey: string }, headers: Record<string, unknown>) {
    await publisher.publish({ ...route, body: message.content, properties: copyProperties(message, headers) });
    channel.ack(message);
  }

  async function park(channel: Channel, message: ConsumeMessage, attempt: number, reason: string): Promise<void> {
    if (instance) {
      // Nowhere to park it: the instance queue has no dead-letter exchange, so a reject drops it.
      logger.error({ queue, eventId: message.properties.messageId, type: message.properties.type, err: reason }, "event dropped from the instance queue");
      markDeliveryOutcome("dropped", reason);
      channel.nack(message, false, false);
      return;
    }
    logger.error(
      { queue, eventId: message.properties.messageId, type: message.properties.type, attempts: attempt, err: reason },
      "event parked in the dead-letter queue",
    );
    markDeliveryOutcome("dead_lettered", reason);
    return settleCopy(
      channel,
      message,
      { exchange: deadLetterExchangeName(exchange), routingKey: queue },
      {
        ...message.properties.headers,
        [melHeaders.error]: reason.slice(0, maxErrorHeaderLength),
        [melHeaders.attempts]: attempt,
        [melHeaders.failedAt]: new Date().toISOString(),
        [melHeaders.queue]: queue,
        ...failedAttempt(),
      },
    );
  }

  async function handle(channel: Channel, message: ConsumeMessage): Promise<void> {
    const { properties, fields } = message;
    const headers = properties.headers ?? {};
    const eventId = headerString(properties.messageId) ?? "";
    const type = headerString(properties.type) ?? "";
    const attempt = Math.max(1, Number(headers[melHeaders.attempt] ?? 1) || 1);
    try {
      if (fields.redelivered) logger.warn({ queue, eventId, type, attempt }, "redelivered event: it may already have been handled");
      const handler = isEventName(type) ? (handlers[type] as EventHandler<unknown> | undefined) : undefined;
      if (!handler) return await park(channel, message, attempt, `no handler for event type "${type}" on queue ${queue}`);
      if (eventId === "") return await park(channel, message, attempt, `${type} message has no message_id (event id)`);
      let event: unknown;
      try {
        event = decodeEvent(type as EventName, message.content);
      } catch (error) {
        return await park(channel, message, attempt, `cannot decode ${type} body as protobuf: ${errorMessage(error)}`);
      }
      const meta: EventMeta = {
        eventId,
        type: type as EventName,
        correlationId: headerString(headers["correlation-id"]) ?? headerString(properties.correlationId),
        traceparent: headerString(headers.traceparent),
        redelivered: fields.redelivered,
        attempt,
        occurredAt: properties.timestamp ? new Date(Number(properties.timestamp) * 1000) : undefined,
      };
      try {
        await handler(event, meta);
      } catch (error) {
        const reason = errorMessage(error);
        if (instance || attempt > retryDelaysMs.length) return await park(channel, message, attempt, reason);
        const delayMs = retryDelaysMs[attempt - 1] as number;
        logger.warn({ queue, eventId, type, attempt, retryInMs: delayMs, err: reason }, "event handler failed; retrying later");
        markDeliveryOutcome("retried", error);
        return await settleCopy(
          channel,
          message,
          { exchange: "", routingKey: retryQueueName(queue, delayMs) },
          { ...headers, [melHeaders.attempt]: attempt + 1, ...failedAttempt() },
        );
      }
      markDeliveryOutcome("handled");
      channel.ack(message);
    } catch (error) {
      markDeliveryOutcome("requeued", error);
      // The copy was not confirmed or the channel is gone: leave the message to
      // the broker, which delivers it again (now, or after reconnecting).
      logger.warn({ queue, eventId, type, err: errorMessage(error) }, "could not settle an event; the broker will deliver it again");
      try {
        channel.nack(message, false, true);
      } catch {
        // The channel is closed: the broker requeues everything unacknowledged on it.
      }
    }
  }

  const channel = new ManagedChannel<Channel>(link, {
    name: `consumer ${queue}`,
    confirm: false,
    setup: async (fresh) => {
      await declareTopology(fresh, topology);
      await fresh.prefetch(options.prefetch ?? 16);
      const reply = await fresh.consume(
        queue,
        (message) => {
          if (message === null) {
            // The broker cancelled us (queue deleted): a new channel re-declares it.
            logger.warn({ queue }, "consumer cancelled by the broker; re-subscribing");
            void fresh.close().catch(() => undefined);
            return;
          }
          // Never throw from here: an exception in a consume callback kills the channel.
          const work = traceDelivery(deliveryOf(queue, message), () => handle(fresh, message)).catch((error: unknown) =>
            logger.error({ queue, err: errorMessage(error) }, "event delivery failed"),
          );
          inFlight.add(work);
          void work.finally(() => inFlight.delete(work));
        },
        { noAck: false },
      );
      consumerTag = reply.consumerTag;
    },
  });

  if (!(await channel.waitForChannel(context.startTimeoutMs))) {
    await channel.close();
    throw new Error(`could not start consuming ${queue} within ${context.startTimeoutMs} ms: ${channel.lastError ?? "no connection to RabbitMQ"}`);
  }
  const unobserve = instance ? undefined : observeDeadLetterDepth(queue, deadLetterQueueName(queue), () => link.current);
  logger.info({ queue, eventTypes, prefetch: options.prefetch ?? 16, ...(instance ? { instance: true } : { retryDelaysMs }) }, "consuming events");

  return {
    queue,
    async close() {
      if (closing) return;
      closing = true;
      unobserve?.();
      const current = channel.current;
      if (current && consumerTag) await current.cancel(consumerTag).catch(() => undefined);
      await Promise.allSettled([...inFlight]);
      await channel.close();
    },
  };
}
