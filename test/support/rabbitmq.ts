// Shared RabbitMQ setup for tests: make sure the broker is up (start it when it
// is not), restart it on demand (always bringing it back), look at queues as the
// broker sees them, and hand out unique name prefixes so tests never collide.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { type Channel, type ChannelModel, connect } from "amqplib";
import { waitUntil } from "./wait.js";

const run = promisify(execFile);

export const rabbitMqUrl = process.env.MEL_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", ["-q", ...args], { timeout: 120_000 });
  return stdout;
}

async function canConnect(): Promise<string | undefined> {
  try {
    const connection = await connect(rabbitMqUrl);
    await connection.close();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function waitUntilConnectable(attempts: number): Promise<string | undefined> {
  let lastError: string | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    lastError = await canConnect();
    if (lastError === undefined) return undefined;
    await new Promise((wake) => setTimeout(wake, 500));
  }
  return lastError;
}

/** Starts the node if it is down and the app if it is stopped, then waits for it. */
async function startBroker(): Promise<void> {
  const nodeRunning = await rabbitmqctl("status").then(
    () => true,
    () => false,
  );
  if (!nodeRunning) {
    await run("rabbitmq-server", ["-detached"]).catch(() => undefined);
    for (let attempt = 0; attempt < 60; attempt++) {
      const up = await rabbitmqctl("await_startup").then(
        () => true,
        () => false,
      );
      if (up) break;
      await new Promise((wake) => setTimeout(wake, 1000));
    }
  }
  // A node left with its app stopped (an interrupted restart test) answers
  // status but refuses AMQP: start_app is a no-op when it already runs.
  await rabbitmqctl("start_app").catch(() => undefined);
  await rabbitmqctl("await_startup").catch(() => undefined);
}

let ensured: Promise<void> | undefined;

/**
 * Resolves once RabbitMQ at rabbitMqUrl accepts AMQP connections, starting the
 * broker if needed. Rejects with the reason otherwise: tests that need the
 * broker fail loudly rather than skip.
 */
export function ensureRabbitMq(): Promise<void> {
  ensured ??= (async () => {
    if ((await canConnect()) === undefined) return;
    await startBroker();
    const lastError = await waitUntilConnectable(40);
    if (lastError !== undefined) {
      ensured = undefined;
      throw new Error(
        `RabbitMQ is unreachable at ${rabbitMqUrl.replace(/:[^:@/]*@/, ":***@")} (${lastError}); start it with rabbitmq-server -detached or set MEL_RABBITMQ_URL`,
      );
    }
  })();
  return ensured;
}

/**
 * Stops the broker's app (every connection drops), runs `whileDown`, then
 * starts it again and waits until it accepts connections. The broker is
 * started again even when `whileDown` throws.
 */
export async function restartBroker(whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  await rabbitmqctl("stop_app");
  let failure: { error: unknown } | undefined;
  try {
    await whileDown();
  } catch (error) {
    failure = { error };
  }
  await rabbitmqctl("start_app").catch(() => startBroker());
  const lastError = await waitUntilConnectable(60);
  if (lastError !== undefined) throw new Error(`RabbitMQ did not come back after the restart: ${lastError}`);
  if (failure) throw failure.error;
}

/** A prefix like `t.<label>.<random>` for every exchange and queue a test declares. */
export function uniqueName(label: string): string {
  return `t.${label}.${randomBytes(4).toString("hex")}`;
}

export interface BrokerQueue {
  name: string;
  /** Ready plus unacknowledged. */
  messages: number;
  messagesReady: number;
  messagesUnacknowledged: number;
  consumers: number;
  durable: boolean;
  type: string;
  arguments: Record<string, unknown>;
}

/** Queues whose names start with `prefix`, as rabbitmqctl reports them. */
export async function listQueues(prefix: string): Promise<BrokerQueue[]> {
  const output = await rabbitmqctl(
    "list_queues",
    "name",
    "messages",
    "messages_ready",
    "messages_unacknowledged",
    "consumers",
    "durable",
    "type",
    "arguments",
    "--formatter",
    "json",
  );
  const rows = JSON.parse(output) as Array<Record<string, unknown>>;
  return rows
    .filter((row) => String(row.name).startsWith(prefix))
    .map((row) => ({
      name: String(row.name),
      messages: Number(row.messages),
      messagesReady: Number(row.messages_ready),
      messagesUnacknowledged: Number(row.messages_unacknowledged),
      consumers: Number(row.consumers),
      durable: row.durable === true,
      type: String(row.type),
      arguments: argumentsTable(row.arguments),
    }));
}

// rabbitmqctl prints a queue's arguments either as an object or as a list of
// [name, type, value] triples depending on the version; both become a plain record.
function argumentsTable(raw: unknown): Record<string, unknown> {
  if (Array.isArray(raw)) {
    return Object.fromEntries(raw.map((entry) => (Array.isArray(entry) ? [String(entry[0]), entry[entry.length - 1]] : [String(entry), true])));
  }
  return raw !== null && typeof raw === "object" ? { ...(raw as Record<string, unknown>) } : {};
}

/** One queue by exact name, or undefined when the broker has no such queue. */
export async function findQueue(name: string): Promise<BrokerQueue | undefined> {
  return (await listQueues(name)).find((queue) => queue.name === name);
}

/**
 * Resolves once `name` holds no message, ready or unacknowledged: everything
 * published to it so far has been delivered and its handler has finished (a
 * consumer acknowledges after its handler). The sign a test waits for when
 * handling a message is meant to change nothing.
 */
export async function waitUntilQueueSettled(name: string, timeoutMs = 30_000): Promise<void> {
  await waitUntil(`every message in ${name} handled and acknowledged`, async () => (await findQueue(name))?.messages === 0, timeoutMs, 50);
}

/** Exchanges whose names start with `prefix`: name and type. */
export async function listExchanges(prefix: string): Promise<Array<{ name: string; type: string; durable: boolean }>> {
  const rows = JSON.parse(await rabbitmqctl("list_exchanges", "name", "type", "durable", "--formatter", "json")) as Array<Record<string, unknown>>;
  return rows
    .filter((row) => String(row.name).startsWith(prefix))
    .map((row) => ({ name: String(row.name), type: String(row.type), durable: row.durable === true }));
}

/** Bindings whose source exchange starts with `prefix`. */
export async function listBindings(
  prefix: string,
): Promise<Array<{ source: string; destination: string; routingKey: string; arguments: Record<string, unknown> }>> {
  const rows = JSON.parse(await rabbitmqctl("list_bindings", "source_name", "destination_name", "routing_key", "arguments", "--formatter", "json")) as Array<
    Record<string, unknown>
  >;
  return rows
    .filter((row) => String(row.source_name).startsWith(prefix))
    .map((row) => ({
      source: String(row.source_name),
      destination: String(row.destination_name),
      routingKey: String(row.routing_key),
      arguments: argumentsTable(row.arguments),
    }));
}

/**
 * A plain connection for inspecting and cleaning up in tests. `readyCount`
 * uses queue.declare-passive, which is fast and exact for ready messages.
 */
export class BrokerProbe {
  private constructor(
    private readonly connection: ChannelModel,
    private channel: Channel,
  ) {}

  static async open(): Promise<BrokerProbe> {
    await ensureRabbitMq();
    const connection = await connect(rabbitMqUrl);
    // Without listeners, a channel closed by the broker (404 on a passive
    // declare) would surface as an uncaught 'error' event.
    connection.on("error", () => undefined);
    return new BrokerProbe(connection, await BrokerProbe.channelOn(connection));
  }

  private static async channelOn(connection: ChannelModel): Promise<Channel> {
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    return channel;
  }

  // A passive declare or delete of something missing closes the channel (404);
  // each call gets a working channel back.
  private async withChannel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    try {
      return await work(this.channel);
    } catch (error) {
      this.channel = await BrokerProbe.channelOn(this.connection);
      throw error;
    }
  }

  /** Ready messages in `queue` (not counting those delivered and unacknowledged). */
  async readyCount(queue: string): Promise<number> {
    return this.withChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);
  }

  async queueExists(queue: string): Promise<boolean> {
    return this.withChannel(async (channel) => {
      await channel.checkQueue(queue);
      return true;
    }).catch(() => false);
  }

  /** Polls until `queue` holds `count` ready messages, or throws after `timeoutMs`. */
  async waitForReady(queue: string, count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = -1;
    while (Date.now() < deadline) {
      seen = await this.readyCount(queue);
      if (seen === count) return;
      await new Promise((wake) => setTimeout(wake, 25));
    }
    throw new Error(`queue ${queue} has ${seen} ready messages after ${timeoutMs} ms, expected ${count}`);
  }

  /** Deletes every queue and exchange whose name starts with `prefix`. */
  async deleteByPrefix(prefix: string): Promise<void> {
    for (const queue of await listQueues(prefix)) {
      await this.withChannel((channel) => channel.deleteQueue(queue.name)).catch(() => undefined);
    }
    for (const exchange of await listExchanges(prefix)) {
      await this.withChannel((channel) => channel.deleteExchange(exchange.name)).catch(() => undefined);
    }
  }

  get raw(): Channel {
    return this.channel;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}
