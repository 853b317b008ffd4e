// The transactional outbox: an event is a row written in the same transaction
// as the state change it announces, so both commit or neither does. The relay
// (outbox-relay.ts) publishes the rows afterwards. These are the outbox's SQL
// statements, one function each so tests can run them on SQLite and
// PostgreSQL and compile them for SQL Server.
import { randomUUID } from "node:crypto";
import { type Kysely, type Selectable, sql } from "kysely";
import { type AnyKysely, type DialectKind, dialectOf } from "../sql/index.js";
import { activeTraceparent } from "../telemetry/index.js";
import { eventNameOf, type MessageCodec } from "./event-types.js";
import type { MessagingTables, OutboxTable } from "./messaging.table.js";

export type OutboxRow = Selectable<OutboxTable>;

export interface OutboxEventOptions {
  /** Default: a new UUID. */
  eventId?: string;
  correlationId?: string | undefined;
  traceparent?: string | undefined;
  now?: Date;
}

/**
 * Records `event` in the outbox inside the caller's transaction (`trx`) and
 * returns its event id. Nothing is published until the transaction commits
 * and the relay picks the row up; call the relay's notify() after commit to
 * publish at once instead of at the next poll.
 */
export async function addToOutbox<T>(trx: AnyKysely, codec: MessageCodec<T>, event: T, options: OutboxEventOptions = {}): Promise<string> {
  const id = options.eventId ?? randomUUID();
  const now = (options.now ?? new Date()).toISOString();
  await (trx as Kysely<MessagingTables>)
    .insertInto("outbox")
    .values({
      id,
      event_type: eventNameOf(codec),
      payload: Buffer.from(codec.encode(event).finish()),
      correlation_id: options.correlationId ?? null,
      // The span writing the row, so the relay's publish continues this trace; the caller's when none is active.
      traceparent: activeTraceparent() ?? options.traceparent ?? null,
      created_at: now,
      published_at: null,
      attempts: 0,
      last_error: null,
      next_attempt_at: now,
      claimed_by: null,
      claimed_until: null,
    })
    .execute();
  return id;
}

export interface ClaimRequest {
  relayId: string;
  batchSize: number;
  now: Date;
  /** Until when the claim holds; a relay that dies mid-batch loses its rows to the others after it. */
  claimedUntil: Date;
}

/**
 * Claims up to `batchSize` due, unpublished, unparked rows for `relayId` in one atomic
 * statement and returns them oldest first. Rows another relay is claiming at
 * the same moment are skipped, not waited for: FOR UPDATE SKIP LOCKED on
 * PostgreSQL, UPDLOCK + READPAST on SQL Server; SQLite has a single writer,
 * so its UPDATE is already exclusive.
 */
export async function claimOutboxBatch(db: AnyKysely, request: ClaimRequest, dialect: DialectKind = dialectOf(db)): Promise<OutboxRow[]> {
  const rows = await claimOutboxBatchQuery(db, request, dialect);
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

async function claimOutboxBatchQuery(db: AnyKysely, request: ClaimRequest, dialect: DialectKind): Promise<OutboxRow[]> {
  const outboxDb = db as Kysely<MessagingTables>;
  const now = request.now.toISOString();
  const claimedUntil = request.claimedUntil.toISOString();
  if (dialect === "mssql") {
    // Kysely has no table hints, so SQL Server's claim is written out: the CTE
    // takes update locks on the rows it reads and skips rows locked by others.
    const { rows } = await sql<OutboxRow>`
      with batch as (
        select top (${request.batchSize}) *
        from outbox with (updlock, readpast, rowlock)
        where published_at is null and parked_at is null and next_attempt_at <= ${now} and (claimed_until is null or claimed_until < ${now})
        order by seq
      )
      update batch set claimed_by = ${request.relayId}, claimed_until = ${claimedUntil}
      output inserted.*`.execute(outboxDb);
    return rows;
  }
  let due = outboxDb
    .selectFrom("outbox")
    .select("id")
    .where("published_at", "is", null)
    .where("parked_at", "is", null)
    .where("next_attempt_at", "<=", now)
    .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<", now)]))
    .orderBy("seq")
    .limit(request.batchSize);
  if (dialect === "postgres") due = due.forUpdate().skipLocked();
  return outboxDb.updateTable("outbox").set({ claimed_by: request.relayId, claimed_until: claimedUntil }).where("id", "in", due).returningAll().execute();
}

/** Marks rows published (the broker confirmed them) and releases their claim. */
export async function markOutboxPublished(db: AnyKysely, ids: readonly string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await (db as Kysely<MessagingTables>)
    .updateTable("outbox")
    .set((eb) => ({ published_at: now.toISOString(), attempts: eb("attempts", "+", 1), last_error: null, claimed_by: null, claimed_until: null }))
    .where("id", "in", ids)
    .execute();
}

/**
 * Records a failed publish of rows that had `attempts` attempts before this
 * one: count it, keep the error, and release them until `nextAttemptAt`.
 */
export async function markOutboxFailed(db: AnyKysely, ids: readonly string[], attempts: number, error: string, nextAttemptAt: Date): Promise<void> {
  if (ids.length === 0) return;
  await (db as Kysely<MessagingTables>)
    .updateTable("outbox")
    .set({ attempts: attempts + 1, last_error: error.slice(0, 2000), next_attempt_at: nextAttemptAt.toISOString(), claimed_by: null, claimed_until: null })
    .where("id", "in", ids)
    .execute();
}

/**
 * Parks a row whose event stayed unroutable after `attempts` earlier attempts:
 * counts this one, keeps the error, and takes it out of the relay's claims
 * until releaseParkedOutboxRows().
 */
export async function markOutboxParked<DB>(db: Kysely<DB>, id: string, attempts: number, error: string, now: Date): Promise<void> {
  await (db as unknown as Kysely<MessagingTables>)
    .updateTable("outbox")
    .set({ attempts: attempts + 1, last_error: error.slice(0, 2000), parked_at: now.toISOString(), claimed_by: null, claimed_until: null })
    .where("id", "=", id)
    .execute();
}

/**
 * Deletes up to `batchSize` rows published before `cutoff`, oldest first;
 * returns how many went. The relay calls it until a batch comes back short,
 * so a large backlog is deleted in bounded statements, not one long one.
 */
export async function deletePublishedOutboxRows(db: AnyKysely, cutoff: Date, batchSize = 1000, dialect: DialectKind = dialectOf(db)): Promise<number> {
  const outboxDb = db as Kysely<MessagingTables>;
  const oldest = outboxDb
    .selectFrom("outbox")
    .select("id")
    .where("published_at", "is not", null)
    .where("published_at", "<", cutoff.toISOString())
    .orderBy("seq");
  // SQL Server has no LIMIT; PostgreSQL has no DELETE … LIMIT: a bounded subquery works on all three.
  const batch = dialect === "mssql" ? oldest.top(batchSize) : oldest.limit(batchSize);
  const result = await outboxDb.deleteFrom("outbox").where("id", "in", batch).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** How many rows are parked: the number an operator has to look at. */
export async function countParkedOutboxRows<DB>(db: Kysely<DB>): Promise<number> {
  const row = await (db as unknown as Kysely<MessagingTables>)
    .selectFrom("outbox")
    .select((eb) => eb.fn.countAll<number | string>().as("parked"))
    .where("parked_at", "is not", null)
    .executeTakeFirst();
  return Number(row?.parked ?? 0);
}

/** A parked row as an operator sees it. */
export interface ParkedOutboxRow {
  eventId: string;
  type: string;
  attempts: number;
  createdAt: string;
  parkedAt: string;
  error: string;
  correlationId: string | undefined;
}

/** Up to `limit` parked rows, oldest first, and how many there are in all. */
export async function listParkedOutboxRows<DB>(
  db: Kysely<DB>,
  limit = 100,
  dialect: DialectKind = dialectOf(db),
): Promise<{ total: number; rows: ParkedOutboxRow[] }> {
  const query = (db as unknown as Kysely<MessagingTables>)
    .selectFrom("outbox")
    .select(["id", "event_type", "attempts", "created_at", "parked_at", "last_error", "correlation_id"])
    .where("parked_at", "is not", null)
    .orderBy("seq");
  const rows = await (dialect === "mssql" ? query.top(limit) : query.limit(limit)).execute();
  return {
    total: await countParkedOutboxRows(db),
    rows: rows.map((row) => ({
      eventId: row.id,
      type: row.event_type,
      attempts: row.attempts,
      createdAt: row.created_at,
      parkedAt: row.parked_at ?? "",
      error: row.last_error ?? "",
      correlationId: row.correlation_id ?? undefined,
    })),
  };
}

/**
 * Hands parked rows (all, or only `eventId`) back to the relay, due at `now`;
 * returns how many. Their attempts and last error stay, so a row that is
 * still unroutable is parked again at its next attempt.
 */
export async function releaseParkedOutboxRows<DB>(db: Kysely<DB>, options: { eventId?: string; now?: Date } = {}): Promise<number> {
  let query = (db as unknown as Kysely<MessagingTables>)
    .updateTable("outbox")
    .set({ parked_at: null, next_attempt_at: (options.now ?? new Date()).toISOString() })
    .where("parked_at", "is not", null);
  if (options.eventId !== undefined) query = query.where("id", "=", options.eventId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}
