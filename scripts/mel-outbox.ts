// `mel outbox list <service>` and `mel outbox replay <service> [--id <event id>]`:
// look at and hand back to the relay the events a service's SQL outbox parked
// (required events that stayed unroutable: no queue was bound for them; see
// platform/events/outbox-relay.ts). The sibling of `mel dlq`, which shows what
// consumers parked. Reads MEL_<SERVICE>_DATABASE_URL as the service does.
import { parseArgs } from "node:util";
import type { Kysely } from "kysely";
import { listParkedOutboxRows, releaseParkedOutboxRows } from "../platform/events/index.js";
import { createDatabase } from "../platform/sql/index.js";
import type { CliCommand, CliIo } from "./mel.js";

/** The services that keep a SQL outbox, with the database their config defaults to. */
const outboxServices = ["catalog", "ordering"] as const;

function databaseOf(service: string, io: CliIo): Kysely<unknown> | undefined {
  if (!(outboxServices as readonly string[]).includes(service)) {
    io.err(`unknown service "${service}"; the services with a SQL outbox are ${outboxServices.join(", ")}`);
    return undefined;
  }
  const variable = `MEL_${service.toUpperCase()}_DATABASE_URL`;
  return createDatabase(io.env[variable] || `sqlite:data/${service}.db`, { variable, maxConnections: 1 });
}

async function withDatabase(service: string, io: CliIo, work: (db: Kysely<unknown>) => Promise<number>): Promise<number> {
  const db = databaseOf(service, io);
  if (!db) return 2;
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

const list: CliCommand = {
  summary: "show events <service>'s outbox parked because no queue was bound for them",
  usage: "outbox list <catalog|ordering> [--limit N] [--json]",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { limit: { type: "string" }, json: { type: "boolean" } } });
    const service = positionals[0];
    if (!service) {
      io.err(`usage: ${this.usage}`);
      return 2;
    }
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      io.err("--limit must be a positive whole number");
      return 2;
    }
    return withDatabase(service, io, async (db) => {
      const { total, rows } = await listParkedOutboxRows(db, limit);
      if (values.json) {
        io.out(JSON.stringify({ total, events: rows }, null, 2));
        return 0;
      }
      io.out(`${total} event(s) parked in ${service}'s outbox${total > rows.length ? ` (showing ${rows.length})` : ""}`);
      for (const row of rows) io.out(`${row.eventId}  ${row.type}  attempts=${row.attempts}  ${row.parkedAt}  ${row.error}`);
      return 0;
    });
  },
};

const replay: CliCommand = {
  summary: "hand parked events back to <service>'s outbox relay (bind their consumer first)",
  usage: "outbox replay <catalog|ordering> [--id <event id>]",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { id: { type: "string" } } });
    const service = positionals[0];
    if (!service) {
      io.err(`usage: ${this.usage}`);
      return 2;
    }
    return withDatabase(service, io, async (db) => {
      const released = await releaseParkedOutboxRows(db, values.id !== undefined ? { eventId: values.id } : {});
      io.out(`handed ${released} event(s) back to ${service}'s outbox relay; it publishes them at its next poll`);
      return values.id !== undefined && released === 0 ? 1 : 0;
    });
  },
};

export const outboxCommands: Record<string, CliCommand> = { list, replay };
