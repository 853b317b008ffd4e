// Operator tools for parked messages (`npm run mel -- dlq list|replay <queue>`).
// Listing takes messages without acknowledging them and hands them all back,
// so nothing is lost by looking. Replaying republishes each message to its
// work queue and acknowledges it in the DLQ only after the broker confirmed
// the republish.
import type { ChannelModel, ConfirmChannel, GetMessage, Message } from "amqplib";
import { copyProperties, melHeaders } from "./consumer.js";
import { deadLetterQueueName } from "./topology.js";

export interface ParkedMessage {
  eventId: string;
  type: string;
  /** Why it was parked (x-mel-error), or the broker's reason when it dead-lettered it. */
  error: string;
  attempts: number;
  failedAt: string | undefined;
  correlationId: string | undefined;
  bytes: number;
}

/** The work queue for `name`, whether the operator typed the queue or its `.dlq`. */
export function workQueueOf(name: string): string {
  return name.endsWith(".dlq") ? name.slice(0, -".dlq".length) : name;
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
}

function describe(message: Message): ParkedMessage {
  const headers = message.properties.headers ?? {};
  const brokerReason = text(headers["x-first-death-reason"]);
  return {
    eventId: text(message.properties.messageId) ?? "",
    type: text(message.properties.type) ?? "",
    error: text(headers[melHeaders.error]) ?? (brokerReason ? `dead-lettered by the broker (${brokerReason})` : "unknown"),
    attempts: Number(headers[melHeaders.attempts] ?? headers[melHeaders.attempt] ?? 1),
    failedAt: text(headers[melHeaders.failedAt]),
    correlationId: text(headers["correlation-id"]) ?? text(message.properties.correlationId),
    bytes: message.content.length,
  };
}

/**
 * Up to `limit` messages parked for `queue` (oldest first) and how many there
 * are in all. Every message is returned to the DLQ unchanged.
 */
export async function listParkedMessages(connection: ChannelModel, queue: string, limit = 100): Promise<{ total: number; messages: ParkedMessage[] }> {
  const dlq = deadLetterQueueName(workQueueOf(queue));
  const channel = await connection.createChannel();
  channel.on("error", () => undefined);
  try {
    const { messageCount } = await channel.checkQueue(dlq);
    const messages: ParkedMessage[] = [];
    while (messages.length < Math.min(limit, messageCount)) {
      const message = await channel.get(dlq, { noAck: false });
      if (message === false) break;
      messages.push(describe(message));
    }
    channel.nackAll(true);
    return { total: messageCount, messages };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

function publishConfirmed(channel: ConfirmChannel, queue: string, message: GetMessage, headers: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let returned = false;
    const onReturn = () => {
      returned = true;
    };
    channel.once("return", onReturn);
    channel.sendToQueue(queue, message.content, { ...copyProperties(message, headers), mandatory: true }, (error: unknown) => {
      channel.removeListener("return", onReturn);
      if (returned) reject(new Error(`queue ${queue} does not exist; start the service that declares it, then replay`));
      else if (error) reject(new Error(`the broker did not confirm the replay of ${message.properties.messageId}`));
      else resolve();
    });
  });
}

// Headers that describe the failed run; a replayed message starts the retry ladder afresh.
const failureHeaders = new Set<string>([
  melHeaders.attempt,
  melHeaders.attempts,
  melHeaders.error,
  melHeaders.failedAt,
  melHeaders.queue,
  "x-death",
  "x-first-death-exchange",
  "x-first-death-queue",
  "x-first-death-reason",
  "x-last-death-exchange",
  "x-last-death-queue",
  "x-last-death-reason",
]);

/**
 * Sends parked messages back to `queue` (all, or only `eventId`), each acked
 * in the DLQ after its republish is confirmed. Only the messages parked when
 * the replay starts are considered, so one that fails again is not replayed
 * twice in one run. Returns how many were replayed.
 */
export async function replayParkedMessages(
  connection: ChannelModel,
  queue: string,
  options: { eventId?: string } = {},
): Promise<{ replayed: number; remaining: number }> {
  const workQueue = workQueueOf(queue);
  const dlq = deadLetterQueueName(workQueue);
  const channel = await connection.createConfirmChannel();
  channel.on("error", () => undefined);
  let replayed = 0;
  try {
    const { messageCount } = await channel.checkQueue(dlq);
    await channel.checkQueue(workQueue);
    for (let seen = 0; seen < messageCount; seen++) {
      const message = await channel.get(dlq, { noAck: false });
      if (message === false) break;
      if (options.eventId !== undefined && message.properties.messageId !== options.eventId) continue;
      const headers = Object.fromEntries(Object.entries(message.properties.headers ?? {}).filter(([name]) => !failureHeaders.has(name)));
      await publishConfirmed(channel, workQueue, message, headers);
      channel.ack(message);
      replayed += 1;
    }
    // Messages skipped by the eventId filter go back to the DLQ.
    channel.nackAll(true);
    const { messageCount: remaining } = await channel.checkQueue(dlq);
    return { replayed, remaining };
  } finally {
    await channel.close().catch(() => undefined);
  }
}
