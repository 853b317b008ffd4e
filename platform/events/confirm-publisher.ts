// Publishing with publisher confirms: a publish resolves only once the broker
// has taken responsibility for the message (routed it to at least one queue
// and, for persistent messages on durable queues, written it). A nack, a
// return (mandatory and unroutable), a closed channel or no answer in time is
// a PublishError, never a silent loss. Only a message published with
// `mandatory: false` may go unrouted: the broker then confirms and drops it.
import type { ConfirmChannel, Message, Options } from "amqplib";
import { type BrokerLink, errorMessage, ManagedChannel } from "./connection.js";
import { PublishError } from "./errors.js";

export interface OutgoingMessage {
  exchange: string;
  routingKey: string;
  body: Uint8Array;
  /**
   * Must carry a messageId: returns are matched to publishes by it. Mandatory
   * unless `mandatory: false` says the message may go unrouted (a notice).
   */
  properties: Options.Publish & { messageId: string };
}

export interface ConfirmPublisherOptions {
  name: string;
  timeoutMs: number;
  /** Extra setup on every fresh channel (e.g. start consuming direct replies). */
  setup?: (channel: ConfirmChannel) => Promise<void>;
  onClosed?: (channel: ConfirmChannel) => void;
}

export class ConfirmPublisher {
  readonly channel: ManagedChannel<ConfirmChannel>;
  // basic.return always precedes the confirm of the same message on a channel,
  // so a confirm whose message id was returned is the unroutable one.
  readonly #returned = new WeakMap<ConfirmChannel, Map<string, number>>();

  constructor(
    link: BrokerLink,
    private readonly options: ConfirmPublisherOptions,
  ) {
    this.channel = new ManagedChannel<ConfirmChannel>(link, {
      name: options.name,
      confirm: true,
      setup: async (channel) => {
        const returned = new Map<string, number>();
        this.#returned.set(channel, returned);
        channel.on("return", (message: Message) => {
          const id = String(message.properties.messageId ?? "");
          returned.set(id, (returned.get(id) ?? 0) + 1);
        });
        await options.setup?.(channel);
      },
      ...(options.onClosed ? { onClosed: options.onClosed } : {}),
    });
  }

  /** Publishes `message` and resolves when the broker confirms it; see the file comment for failures. */
  async publish(message: OutgoingMessage, timeoutMs = this.options.timeoutMs): Promise<void> {
    const started = Date.now();
    const channel = await this.channel.waitForChannel(timeoutMs);
    const what = `${message.properties.type ?? "message"} ${message.properties.messageId} to ${message.exchange || "(default exchange)"}/${message.routingKey}`;
    if (!channel) throw new PublishError("unavailable", `cannot publish ${what}: RabbitMQ is unreachable (no channel within ${timeoutMs} ms)`);
    const remaining = Math.max(1, timeoutMs - (Date.now() - started));
    const returned = this.#returned.get(channel);

    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: PublishError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(
        () => settle(new PublishError("timeout", `no confirm for ${what} within ${timeoutMs} ms; it may or may not have been delivered`)),
        remaining,
      );
      try {
        channel.publish(
          message.exchange,
          message.routingKey,
          Buffer.from(message.body),
          { ...message.properties, mandatory: message.properties.mandatory ?? true },
          (error: unknown) => {
            const id = message.properties.messageId;
            const returnCount = returned?.get(id) ?? 0;
            if (returnCount > 0) {
              if (returnCount === 1) returned?.delete(id);
              else returned?.set(id, returnCount - 1);
              settle(new PublishError("unroutable", `${what} was returned: no queue is bound for routing key "${message.routingKey}"`));
            } else if (error) {
              const closed = /closed/i.test(errorMessage(error));
              settle(
                new PublishError(
                  closed ? "channel-closed" : "nacked",
                  closed ? `the channel closed before ${what} was confirmed; it may or may not have been delivered` : `the broker refused (nacked) ${what}`,
                  { cause: error },
                ),
              );
            } else {
              settle();
            }
          },
        );
      } catch (error) {
        settle(new PublishError("channel-closed", `cannot publish ${what}: ${errorMessage(error)}`, { cause: error }));
      }
    });
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}
