// `mel dlq list <queue>` and `mel dlq replay <queue> [--id <event id>]`:
// look at and send back messages parked in `<queue>.dlq` (see
// platform/events/dead-letters.ts for the guarantees).
import { parseArgs } from "node:util";
import { connect } from "amqplib";
import { listParkedMessages, replayParkedMessages } from "../platform/events/index.js";
import type { CliCommand, CliIo } from "./mel.js";

const defaultRabbitMqUrl = "amqp://guest:guest@127.0.0.1:5672";

async function withConnection<T>(io: CliIo, work: (connection: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const connection = await connect(io.env.MEL_RABBITMQ_URL || defaultRabbitMqUrl, { clientProperties: { connection_name: "mel cli" } });
  connection.on("error", () => undefined);
  try {
    return await work(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

const list: CliCommand = {
  summary: "show messages parked in <queue>.dlq (they stay there)",
  usage: "dlq list <queue> [--limit N] [--json]",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { limit: { type: "string" }, json: { type: "boolean" } } });
    const queue = positionals[0];
    if (!queue) {
      io.err(`usage: ${this.usage}`);
      return 2;
    }
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      io.err("--limit must be a positive whole number");
      return 2;
    }
    const { total, messages } = await withConnection(io, (connection) => listParkedMessages(connection, queue, limit));
    if (values.json) {
      io.out(JSON.stringify({ total, messages }, null, 2));
      return 0;
    }
    io.out(`${total} message(s) parked for ${queue}${total > messages.length ? ` (showing ${messages.length})` : ""}`);
    for (const message of messages) {
      io.out(`${message.eventId}  ${message.type}  attempts=${message.attempts}  ${message.failedAt ?? "-"}  ${message.error}`);
    }
    return 0;
  },
};

const replay: CliCommand = {
  summary: "send parked messages back to <queue> (acked in the DLQ once the broker confirms)",
  usage: "dlq replay <queue> [--id <event id>]",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { id: { type: "string" } } });
    const queue = positionals[0];
    if (!queue) {
      io.err(`usage: ${this.usage}`);
      return 2;
    }
    const { replayed, remaining } = await withConnection(io, (connection) =>
      replayParkedMessages(connection, queue, values.id !== undefined ? { eventId: values.id } : {}),
    );
    io.out(`replayed ${replayed} message(s) to ${queue}; ${remaining} still parked`);
    return values.id !== undefined && replayed === 0 ? 1 : 0;
  },
};

export const dlqCommands: Record<string, CliCommand> = { list, replay };
