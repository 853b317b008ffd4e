// Exchanges, queues and bindings as data, declared idempotently on every
// (re)connect. Declaring the same thing twice is a no-op for RabbitMQ; declaring
// it with different arguments fails (406), which is why names that depend on an
// argument (the retry delay) carry it.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Channel } from "amqplib";

export type ExchangeType = "topic" | "direct" | "fanout" | "headers";

export interface ExchangeSpec {
  name: string;
  type: ExchangeType;
  /** Survives a broker restart. Default true. */
  durable?: boolean;
  /** Where messages no binding matches go instead of being returned. */
  alternateExchange?: string;
}

export interface QueueSpec {
  name: string;
  /** Default true. Quorum queues are always durable. */
  durable?: boolean;
  /** Replicated Raft queue (`x-queue-type: quorum`) instead of a classic one. */
  quorum?: boolean;
  /** x-dead-letter-exchange: where rejected or expired messages go ("" is the default exchange). */
  deadLetterExchange?: string;
  /** x-dead-letter-routing-key: the routing key they go with. */
  deadLetterRoutingKey?: string;
  /** x-message-ttl: how long a message may wait in the queue. */
  messageTtlMs?: number;
  /** Any other x-arguments. */
  arguments?: Record<string, unknown>;
}

export interface BindingSpec {
  /** The exchange messages come from. */
  source: string;
  /** A queue, or an exchange when `destinationType` is "exchange". */
  destination: string;
  destinationType?: "queue" | "exchange";
  /** Routing key or topic pattern; ignored by fanout and headers exchanges. */
  routingKey?: string;
  /** For headers exchanges: the headers to match plus `x-match: all | any`. */
  arguments?: Record<string, unknown>;
}

export interface Topology {
  exchanges?: readonly ExchangeSpec[];
  queues?: readonly QueueSpec[];
  bindings?: readonly BindingSpec[];
}

export function queueArguments(spec: QueueSpec): Record<string, unknown> {
  const args: Record<string, unknown> = { ...spec.arguments };
  if (spec.quorum) args["x-queue-type"] = "quorum";
  if (spec.deadLetterExchange !== undefined) args["x-dead-letter-exchange"] = spec.deadLetterExchange;
  if (spec.deadLetterRoutingKey !== undefined) args["x-dead-letter-routing-key"] = spec.deadLetterRoutingKey;
  if (spec.messageTtlMs !== undefined) args["x-message-ttl"] = spec.messageTtlMs;
  return args;
}

/** Declares everything in `topology` on `channel`: exchanges, then queues, then bindings. */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges ?? []) {
    await channel.assertExchange(exchange.name, exchange.type, {
      durable: exchange.durable ?? true,
      ...(exchange.alternateExchange !== undefined ? { alternateExchange: exchange.alternateExchange } : {}),
    });
  }
  for (const queue of topology.queues ?? []) {
    await channel.assertQueue(queue.name, { durable: queue.quorum ? true : (queue.durable ?? true), arguments: queueArguments(queue) });
  }
  for (const binding of topology.bindings ?? []) {
    if (binding.destinationType === "exchange") {
      await channel.bindExchange(binding.destination, binding.source, binding.routingKey ?? "", binding.arguments);
    } else {
      await channel.bindQueue(binding.destination, binding.source, binding.routingKey ?? "", binding.arguments);
    }
  }
}

/** Three retries at growing delays (1 s, 5 s, 10 s, as Polly's common ladder), then the DLQ. */
export const defaultRetryDelaysMs: readonly number[] = [1000, 5000, 10_000];

export const deadLetterQueueName = (queue: string): string => `${queue}.dlq`;
export const deadLetterExchangeName = (exchange: string): string => `${exchange}.dlx`;
/** Named by delay so changing the ladder declares new queues instead of failing on changed arguments. */
export const retryQueueName = (queue: string, delayMs: number): string => `${queue}.retry.${delayMs}ms`;

export interface ServiceQueueOptions {
  /** The topic exchange events are published to (mel.events). */
  exchange: string;
  /** The consuming service's queue, `<service>.events`. */
  queue: string;
  /** Routing keys (event names) the queue is bound to. */
  eventTypes: readonly string[];
  retryDelaysMs?: readonly number[];
  quorum?: boolean;
}

/**
 * A consuming service's topology: the events exchange; the work queue bound to
 * its event types; one retry queue per delay whose TTL dead-letters the message
 * straight back to the work queue (through the default exchange, so other
 * services never see a retry); and the dead-letter exchange with `<queue>.dlq`,
 * which also catches anything the work queue itself rejects or expires.
 */
export function serviceQueueTopology(options: ServiceQueueOptions): Topology {
  const { exchange, queue, quorum = false } = options;
  const deadLetterExchange = deadLetterExchangeName(exchange);
  const delays = [...new Set(options.retryDelaysMs ?? defaultRetryDelaysMs)];
  return {
    exchanges: [
      { name: exchange, type: "topic" },
      { name: deadLetterExchange, type: "direct" },
    ],
    queues: [
      { name: queue, quorum, deadLetterExchange, deadLetterRoutingKey: queue },
      ...delays.map((delayMs) => ({
        name: retryQueueName(queue, delayMs),
        quorum,
        messageTtlMs: delayMs,
        deadLetterExchange: "",
        deadLetterRoutingKey: queue,
      })),
      { name: deadLetterQueueName(queue), quorum },
    ],
    bindings: [
      ...options.eventTypes.map((eventType) => ({ source: exchange, destination: queue, routingKey: eventType })),
      { source: deadLetterExchange, destination: deadLetterQueueName(queue), routingKey: queue },
    ],
  };
}

/**
 * A name for one running instance's own queue, `<queue>.instance.<host>.<random>`:
 * under the service's queue name (so tools and test clean-ups that go by prefix
 * find it) and new for every start.
 */
export function instanceQueueName(queue: string): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9-]/g, "-")
      .slice(0, 40) || "host";
  return `${queue}.instance.${host}.${randomBytes(4).toString("hex")}`;
}

/** How long an instance queue outlives its last consumer by default: a broker or network outage shorter than this loses none of its events. */
export const defaultInstanceQueueExpiresMs = 5 * 60_000;

export interface InstanceQueueOptions {
  exchange: string;
  /** From instanceQueueName. */
  queue: string;
  eventTypes: readonly string[];
  expiresMs?: number;
}

/**
 * One instance's queue for events every instance must see (broadcasts): bound
 * to their types on the events exchange, durable so a broker restart keeps what
 * it holds, and deleted by the broker (x-expires) once no consumer has used it
 * for `expiresMs`, so the queues of instances that are gone do not pile up. No
 * retry or dead-letter queues: those would outlive it to no purpose.
 */
export function instanceQueueTopology(options: InstanceQueueOptions): Topology {
  const { exchange, queue } = options;
  return {
    exchanges: [{ name: exchange, type: "topic" }],
    queues: [{ name: queue, arguments: { "x-expires": options.expiresMs ?? defaultInstanceQueueExpiresMs } }],
    bindings: options.eventTypes.map((eventType) => ({ source: exchange, destination: queue, routingKey: eventType })),
  };
}
