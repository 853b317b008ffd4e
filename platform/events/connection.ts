// One AMQP connection that comes back after the broker closes or restarts, and
// channels that come back with it. amqplib's recovery reconnects the connection
// with back-off but does not restore channels, topology or consumers; a
// ManagedChannel does that: it reopens its channel on every new connection (or
// after the broker closed only the channel) and runs its setup again
// (declare topology, set prefetch, start consuming).
import { type Channel, type ChannelModel, type ConfirmChannel, connect, type RecoveringChannelModel } from "amqplib";
import type { Logger } from "pino";

export interface ReconnectOptions {
  /** First delay after a lost connection. Default 100 ms. */
  initialDelayMs?: number;
  /** Longest delay between attempts. Default 5000 ms. */
  maxDelayMs?: number;
  /** Attempts before the first connection is given up (start-up fails fast). Default 10. */
  initialAttempts?: number;
}

/** The URL with any password masked, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

export class BrokerLink {
  #current: ChannelModel | undefined;
  readonly #listeners = new Set<(model: ChannelModel) => void>();
  #closed = false;
  #closing = false;

  private constructor(
    private readonly recovering: RecoveringChannelModel,
    readonly logger: Logger,
  ) {}

  /** Connects (retrying with back-off) and keeps reconnecting after every loss until close(). */
  static async open(url: string, options: { logger: Logger; name: string; reconnect?: ReconnectOptions }): Promise<BrokerLink> {
    const { logger } = options;
    const reconnect = options.reconnect ?? {};
    const recovering = await connect(url, {
      clientProperties: { connection_name: options.name },
      recovery: {
        initialDelay: reconnect.initialDelayMs ?? 100,
        maxDelay: reconnect.maxDelayMs ?? 5000,
        initialMaxRetries: reconnect.initialAttempts ?? 10,
        maxRetries: Infinity,
        waitForConnect: false,
      },
    });
    const link = new BrokerLink(recovering, logger);
    recovering.on("connect", (model: ChannelModel) => {
      link.#current = model;
      logger.info({ broker: redactUrl(url) }, "connected to RabbitMQ");
      for (const listener of link.#listeners) listener(model);
    });
    recovering.on("disconnect", (error: Error) => {
      link.#current = undefined;
      if (link.#closing || link.#closed) {
        // A connection lost while the owner is closing is not worth getting
        // back: stopping recovery here (synchronously, before amqplib schedules
        // its next attempt) keeps a closing process from dialling the broker again.
        logger.debug({ err: error.message }, "RabbitMQ connection lost while closing; not reconnecting");
        recovering.close().catch(() => {});
        return;
      }
      logger.warn({ err: error.message }, "lost the RabbitMQ connection; reconnecting");
    });
    recovering.on("reconnect-scheduled", (info: { attempt: number; delay: number; error: Error }) =>
      logger.info({ attempt: info.attempt, delayMs: info.delay, err: info.error.message }, "RabbitMQ reconnect scheduled"),
    );
    recovering.on("reconnect-failed", (error: Error) => logger.error({ err: error.message }, "gave up reconnecting to RabbitMQ"));
    recovering.on("error", (error: Error) => logger.warn({ err: error.message }, "RabbitMQ connection error"));
    recovering.on("blocked", (reason: string) => logger.warn({ reason }, "RabbitMQ blocked publishing (resource alarm)"));
    try {
      await recovering.waitForConnect();
    } catch (error) {
      throw new Error(`cannot connect to RabbitMQ at ${redactUrl(url)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return link;
  }

  get current(): ChannelModel | undefined {
    return this.#current;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `listener` with every new connection; returns the function that stops it. */
  onConnect(listener: (model: ChannelModel) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The owner has begun closing (stopping consumers, settling publishes) and
   * still uses the connection, but a connection lost from now on is not
   * reconnected.
   */
  beginClosing(): void {
    this.#closing = true;
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#closed = true;
    this.#listeners.clear();
    await this.recovering.close();
  }
}

export interface ManagedChannelOptions<C extends Channel> {
  /** For logs: what the channel is for. */
  name: string;
  confirm: C extends ConfirmChannel ? true : boolean;
  /** Runs on every fresh channel before it is handed out (declare, prefetch, consume). */
  setup?: (channel: C) => Promise<void>;
  /** Runs when the channel closes for any reason, before a replacement is opened. */
  onClosed?: (channel: C) => void;
}

/** A channel that is reopened and set up again after the connection or the channel is lost. */
export class ManagedChannel<C extends Channel = Channel> {
  #channel: C | undefined;
  #openingFor: ChannelModel | undefined;
  #waiters: Array<(channel: C | undefined) => void> = [];
  #closed = false;
  #retryDelayMs = 100;
  #lastError: string | undefined;
  readonly #stopListening: () => void;

  constructor(
    private readonly link: BrokerLink,
    private readonly options: ManagedChannelOptions<C>,
  ) {
    this.#stopListening = link.onConnect((model) => void this.open(model));
    if (link.current) void this.open(link.current);
  }

  get current(): C | undefined {
    return this.#channel;
  }

  /** Why the last open or setup failed, for error messages. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** The open channel, waiting up to `timeoutMs` for one; undefined when none came in time. */
  waitForChannel(timeoutMs: number): Promise<C | undefined> {
    if (this.#channel) return Promise.resolve(this.#channel);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (channel: C | undefined) => {
        clearTimeout(timer);
        resolve(channel);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  private async open(model: ChannelModel): Promise<void> {
    if (this.#closed || this.#openingFor === model) return;
    this.#openingFor = model;
    const { logger } = this.link;
    let channel: C;
    try {
      channel = (this.options.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C;
    } catch (error) {
      this.#openingFor = undefined;
      this.#lastError = errorMessage(error);
      logger.warn({ channel: this.options.name, err: errorMessage(error) }, "could not open a RabbitMQ channel");
      this.reopenLater(model);
      return;
    }
    // A channel closed by the broker emits 'error' then 'close'; without a
    // listener the error would crash the process.
    channel.on("error", (error: Error) => logger.warn({ channel: this.options.name, err: error.message }, "RabbitMQ channel error"));
    channel.on("close", () => {
      if (this.#channel === channel) this.#channel = undefined;
      if (this.#openingFor === model) this.#openingFor = undefined;
      this.options.onClosed?.(channel);
      this.reopenLater(model);
    });
    try {
      await this.options.setup?.(channel);
    } catch (error) {
      this.#lastError = errorMessage(error);
      logger.warn({ channel: this.options.name, err: this.#lastError }, "RabbitMQ channel setup failed; retrying");
      await untilSettledOrClosed(channel, () => channel.close());
      return;
    }
    if (this.#closed) {
      await untilSettledOrClosed(channel, () => channel.close());
      return;
    }
    this.#channel = channel;
    this.#retryDelayMs = 100;
    this.#lastError = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter(channel);
  }

  // Only the channel went (the connection is the same): open a new one after a
  // growing pause. When the connection went too, onConnect opens the next one.
  private reopenLater(model: ChannelModel): void {
    if (this.#closed) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, 5000);
    setTimeout(() => {
      if (!this.#closed && this.link.current === model && !this.#channel) void this.open(model);
    }, delay).unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopListening();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel) await untilSettledOrClosed(channel, () => channel.close());
  }
}

/**
 * Runs `operation` (a channel close) and resolves when it settles or when the
 * channel closes, whichever comes first; it never rejects. amqplib leaves a
 * channel close pending forever when the connection dies before the broker's
 * close-ok arrives (its other calls are rejected then), which would hang the
 * bus's close() and keep the connection reconnecting.
 */
function untilSettledOrClosed(channel: Channel, operation: () => Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off("close", done);
      resolve();
    };
    channel.once("close", done);
    try {
      operation().then(done, done);
    } catch {
      done();
    }
  });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
