// The variables every service that publishes or consumes integration events
// reads, named for the service (MEL_CATALOG_QUEUE, MEL_BASKET_QUEUE, …) so
// each can be tuned alone, declared once here instead of once per service.
import type { z } from "zod";
import { boolean, durationList, durationMs, integer, text, url } from "../config/index.js";
import { defaultRetryDelaysMs } from "./topology.js";

const brokerUrl = () => url({ protocols: ["amqp", "amqps"], default: "amqp://guest:guest@127.0.0.1:5672" });

type MessagingEnvShape<Service extends string> = {
  MEL_RABBITMQ_URL: ReturnType<typeof brokerUrl>;
  MEL_EVENTS_EXCHANGE: ReturnType<typeof text>;
} & Record<`MEL_${Service}_QUEUE`, ReturnType<typeof text>> &
  Record<`MEL_${Service}_QUORUM_QUEUES`, ReturnType<typeof boolean>> &
  Record<`MEL_${Service}_EVENT_PREFETCH`, ReturnType<typeof integer>> &
  Record<`MEL_${Service}_EVENT_RETRY_DELAYS`, ReturnType<typeof durationList>> &
  Record<`MEL_${Service}_OUTBOX_POLL_INTERVAL`, ReturnType<typeof durationMs>> &
  Record<`MEL_${Service}_OUTBOX_RETENTION`, ReturnType<typeof durationMs>>;

/** Seven days: long enough to look into what was published last week. */
export const defaultOutboxRetentionMs = 7 * 24 * 60 * 60 * 1000;

/**
 * The zod fields for a service's messaging variables, to spread into its
 * schema: `messagingEnv("CATALOG")` reads MEL_RABBITMQ_URL, MEL_EVENTS_EXCHANGE
 * and MEL_CATALOG_{QUEUE, QUORUM_QUEUES, EVENT_PREFETCH, EVENT_RETRY_DELAYS_MS,
 * OUTBOX_POLL_MS, OUTBOX_RETENTION}. The queue defaults to "<service>.events";
 * the retention of published outbox events to `defaults.outboxRetentionMs`
 * (seven days unless the service keeps them elsewhere, as the basket does in
 * its documents).
 */
export function messagingEnv<Service extends string>(service: Service, defaults: { outboxRetentionMs?: number } = {}): MessagingEnvShape<Service> {
  return {
    MEL_RABBITMQ_URL: brokerUrl(),
    MEL_EVENTS_EXCHANGE: text("mel.events"),
    [`MEL_${service}_QUEUE`]: text(`${service.toLowerCase()}.events`),
    // Quorum queues are replicated: for clustered brokers.
    [`MEL_${service}_QUORUM_QUEUES`]: boolean(false),
    // Unacknowledged events one instance holds at once; competing instances share the rest round-robin.
    [`MEL_${service}_EVENT_PREFETCH`]: integer({ min: 1, max: 1000, default: 16 }),
    // Delays before each redelivery of an event whose handler failed; after the last, the DLQ.
    [`MEL_${service}_EVENT_RETRY_DELAYS`]: durationList([...defaultRetryDelaysMs]),
    // The outbox relay's fallback poll; commits wake it at once.
    [`MEL_${service}_OUTBOX_POLL_INTERVAL`]: durationMs(1000),
    // Published outbox events older than this are deleted by the relay.
    [`MEL_${service}_OUTBOX_RETENTION`]: durationMs(defaults.outboxRetentionMs ?? defaultOutboxRetentionMs),
  } as MessagingEnvShape<Service>;
}

/** A service's messaging settings, as main.ts passes them to the bus, its subscription and relay. */
export interface MessagingConfig {
  rabbitMqUrl: string;
  exchange: string;
  queue: string;
  quorumQueues: boolean;
  eventPrefetch: number;
  eventRetryDelaysMs: number[];
  outboxPollMs: number;
  /** How long published outbox events are kept before the relay deletes them. */
  outboxRetentionMs: number;
}

/** Picks the settings messagingEnv(service) declared out of the parsed environment. */
export function messagingConfigFrom<Service extends string>(parsed: z.output<z.ZodObject<MessagingEnvShape<Service>>>, service: Service): MessagingConfig {
  const values = parsed as Record<string, unknown>;
  return {
    rabbitMqUrl: values.MEL_RABBITMQ_URL as string,
    exchange: values.MEL_EVENTS_EXCHANGE as string,
    queue: values[`MEL_${service}_QUEUE`] as string,
    quorumQueues: values[`MEL_${service}_QUORUM_QUEUES`] as boolean,
    eventPrefetch: values[`MEL_${service}_EVENT_PREFETCH`] as number,
    eventRetryDelaysMs: values[`MEL_${service}_EVENT_RETRY_DELAYS`] as number[],
    outboxPollMs: values[`MEL_${service}_OUTBOX_POLL_INTERVAL`] as number,
    outboxRetentionMs: values[`MEL_${service}_OUTBOX_RETENTION`] as number,
  };
}

type PublisherEnvShape<Service extends string> = {
  MEL_RABBITMQ_URL: ReturnType<typeof brokerUrl>;
  MEL_EVENTS_EXCHANGE: ReturnType<typeof text>;
} & Record<`MEL_${Service}_OUTBOX_POLL_INTERVAL`, ReturnType<typeof durationMs>>;

/**
 * The messaging variables of a service that publishes events but consumes
 * none (identity): MEL_RABBITMQ_URL, MEL_EVENTS_EXCHANGE and
 * MEL_<SERVICE>_OUTBOX_POLL_INTERVAL, as messagingEnv declares them.
 */
export function publisherEnv<Service extends string>(service: Service): PublisherEnvShape<Service> {
  const all = messagingEnv(service) as Record<string, unknown>;
  return {
    MEL_RABBITMQ_URL: all.MEL_RABBITMQ_URL,
    MEL_EVENTS_EXCHANGE: all.MEL_EVENTS_EXCHANGE,
    [`MEL_${service}_OUTBOX_POLL_INTERVAL`]: all[`MEL_${service}_OUTBOX_POLL_INTERVAL`],
  } as PublisherEnvShape<Service>;
}

/** A publishing-only service's messaging settings. */
export type PublisherConfig = Pick<MessagingConfig, "rabbitMqUrl" | "exchange" | "outboxPollMs">;

/** Picks the settings publisherEnv(service) declared out of the parsed environment. */
export function publisherConfigFrom<Service extends string>(parsed: z.output<z.ZodObject<PublisherEnvShape<Service>>>, service: Service): PublisherConfig {
  const values = parsed as Record<string, unknown>;
  return {
    rabbitMqUrl: values.MEL_RABBITMQ_URL as string,
    exchange: values.MEL_EVENTS_EXCHANGE as string,
    outboxPollMs: values[`MEL_${service}_OUTBOX_POLL_INTERVAL`] as number,
  };
}
