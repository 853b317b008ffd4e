// The event bus a service builds once in main.ts: one resilient connection,
// a confirm channel for publishing, consumers for its queue, request/reply,
// and any extra topology it needs. See index.ts for what belongs here.
import { randomUUID } from "node:crypto";
import type { Channel } from "amqplib";
import type { Logger } from "pino";
import { activeTraceparent, tracePublish } from "../telemetry/index.js";
import { ConfirmPublisher } from "./confirm-publisher.js";
import { BrokerLink, ManagedChannel, type ReconnectOptions } from "./connection.js";
import { type SubscribeOptions, type Subscription, startConsumer } from "./consumer.js";
import { deliveryOf, eventDeliveries } from "./event-delivery.js";
import { eventNameOf, type MessageCodec } from "./event-types.js";
import { RequestClient, type RequestOptions, type ServeOptions, serveRequests } from "./request-reply.js";
import { declareTopology, type Topology } from "./topology.js";

export const eventContentType = "application/x-protobuf";

export interface EventBusOptions {
  /** amqp://user:password@host:5672 (MEL_RABBITMQ_URL). */
  url: string;
  logger: Logger;
  /** The topic exchange events go to. Default "mel.events"; tests use their own. */
  exchange?: string;
  /** Shown in the broker's connection list, e.g. "catalog". */
  connectionName?: string;
  /** Longest wait for a publish confirm (or for a channel while reconnecting). Default 5000 ms. */
  publishTimeoutMs?: number;
  /** Default wait for a reply in request(). Default 5000 ms. */
  requestTimeoutMs?: number;
  reconnect?: ReconnectOptions;
}

/** An event as stored in an outbox: already encoded, with its identity and trace context. */
export interface OutgoingEvent {
  eventId: string;
  /** Event name: the AMQP type and, unless overridden, the routing key. */
  type: string;
  body: Uint8Array;
  correlationId?: string | undefined;
  traceparent?: string | undefined;
  occurredAt?: Date | undefined;
}

export interface PublishOptions {
  /** Default: a new UUID. Pass the outbox row's id to keep retries the same event. */
  eventId?: string;
  correlationId?: string;
  traceparent?: string;
  occurredAt?: Date;
  /** Another exchange (fanout, direct, headers) instead of the events exchange. */
  exchange?: string;
  /** Default: the event name. */
  routingKey?: string;
  /** Extra headers (a headers exchange routes on them). */
  headers?: Record<string, string | number | boolean>;
}

export interface EventBus {
  readonly exchange: string;
  /** Encodes and publishes `event`; resolves with its event id once the broker confirms. */
  publish<T>(codec: MessageCodec<T>, event: T, options?: PublishOptions): Promise<string>;
  /** Publishes an already-encoded event (the outbox relay's path). */
  publishEncoded(event: OutgoingEvent, options?: Pick<PublishOptions, "exchange" | "routingKey" | "headers">): Promise<void>;
  /** Declares `topology` now and again after every reconnect. */
  declare(topology: Topology): Promise<void>;
  /** Consumes the service's queue with typed handlers, retries and the DLQ. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  request<Req, Res>(queue: string, requestCodec: MessageCodec<Req>, request: Req, replyCodec: MessageCodec<Res>, options?: RequestOptions): Promise<Res>;
  serve<Req, Res>(options: ServeOptions<Req, Res>): Promise<Subscription>;
  /** Stops consumers (waiting for handlers in progress), fails pending requests, closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to RabbitMQ (retrying with back-off; rejects if the first
 * connection cannot be made) and declares the events exchange.
 */
export async function createEventBus(options: EventBusOptions): Promise<EventBus> {
  // A contract whose events do not all declare their delivery stops the service here, not at its first publish.
  eventDeliveries();
  const exchange = options.exchange ?? "mel.events";
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const { logger } = options;
  const link = await BrokerLink.open(options.url, {
    logger,
    name: options.connectionName ?? "mel",
    ...(options.reconnect ? { reconnect: options.reconnect } : {}),
  });

  const topologies: Topology[] = [{ exchanges: [{ name: exchange, type: "topic" }] }];
  const declarer = new ManagedChannel<Channel>(link, {
    name: "topology",
    confirm: false,
    setup: async (channel) => {
      for (const topology of topologies) await declareTopology(channel, topology);
    },
  });
  const publisher = new ConfirmPublisher(link, { name: "publisher", timeoutMs: publishTimeoutMs });
  const requests = new RequestClient(link, options.requestTimeoutMs ?? 5000);
  const subscriptions = new Set<Subscription>();

  async function publishEncoded(event: OutgoingEvent, overrides: Pick<PublishOptions, "exchange" | "routingKey" | "headers"> = {}): Promise<void> {
    const route = { exchange: overrides.exchange ?? exchange, routingKey: overrides.routingKey ?? event.type };
    const traced = { ...route, eventType: event.type, eventId: event.eventId, correlationId: event.correlationId, traceparent: event.traceparent };
    await tracePublish({ ...traced, bodySize: event.body.length }, (traceHeaders) =>
      publisher.publish({
        ...route,
        body: event.body,
        properties: {
          // A notice nobody is bound for is dropped by the broker; a required event comes back as unroutable.
          mandatory: deliveryOf(event.type) === "required",
          messageId: event.eventId,
          type: event.type,
          persistent: true,
          contentType: eventContentType,
          timestamp: Math.floor((event.occurredAt ?? new Date()).getTime() / 1000),
          ...(event.correlationId ? { correlationId: event.correlationId } : {}),
          headers: {
            ...overrides.headers,
            ...(event.correlationId ? { "correlation-id": event.correlationId } : {}),
            ...(event.traceparent ? { traceparent: event.traceparent } : {}),
            ...traceHeaders,
          },
        },
      }),
    );
  }

  function track(subscription: Subscription): Subscription {
    subscriptions.add(subscription);
    return {
      queue: subscription.queue,
      close: async () => {
        subscriptions.delete(subscription);
        await subscription.close();
      },
    };
  }

  const bus: EventBus = {
    exchange,
    async publish(codec, event, publishOptions = {}) {
      const eventId = publishOptions.eventId ?? randomUUID();
      await publishEncoded(
        {
          eventId,
          type: eventNameOf(codec),
          body: codec.encode(event).finish(),
          correlationId: publishOptions.correlationId,
          // Published now, so in the active span's trace rather than the caller's incoming one.
          traceparent: activeTraceparent() ?? publishOptions.traceparent,
          occurredAt: publishOptions.occurredAt,
        },
        publishOptions,
      );
      return eventId;
    },
    publishEncoded,
    async declare(topology) {
      const channel = await declarer.waitForChannel(publishTimeoutMs);
      if (!channel) throw new Error(`cannot declare topology: RabbitMQ is unreachable (no channel within ${publishTimeoutMs} ms)`);
      await declareTopology(channel, topology);
      topologies.push(topology);
    },
    async subscribe(subscribeOptions) {
      return track(await startConsumer({ link, publisher, exchange, logger, startTimeoutMs: publishTimeoutMs }, subscribeOptions));
    },
    request: (queue, requestCodec, request, replyCodec, requestOptions) => requests.request(queue, requestCodec, request, replyCodec, requestOptions),
    async serve(serveOptions) {
      return track(await serveRequests(link, logger, publishTimeoutMs, serveOptions));
    },
    async close() {
      link.beginClosing();
      await Promise.allSettled([...subscriptions].map((subscription) => subscription.close()));
      subscriptions.clear();
      await requests.close();
      await publisher.close();
      await declarer.close();
      await link.close();
    },
  };

  // The exchange must exist before the first publish: publishing to a missing
  // exchange closes the channel (404).
  if (!(await declarer.waitForChannel(publishTimeoutMs))) {
    await link.close();
    throw new Error(`could not declare exchange ${exchange} within ${publishTimeoutMs} ms`);
  }
  return bus;
}
