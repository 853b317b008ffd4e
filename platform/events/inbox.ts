// The inbox: idempotent consumers. RabbitMQ delivers at least once (a
// redelivery after a lost ack, a relay publishing twice), so a handler records
// (event id, consumer) in the same transaction as its effect. A second
// delivery finds the row, changes nothing, and is acknowledged.
import { type Kysely, sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import { type AnyKysely, dialectOf } from "../sql/index.js";
import type { EventHandler, EventMeta } from "./consumer.js";
import type { MessagingTables } from "./messaging.table.js";

/**
 * Records that `consumer` processed `eventId`, inside the handler's
 * transaction. Returns true the first time and false when it was recorded
 * before (then the handler must do nothing). The duplicate is detected without
 * raising a unique-key error, which on PostgreSQL would abort the transaction:
 * ON CONFLICT DO NOTHING on PostgreSQL and SQLite; on SQL Server an insert
 * guarded by NOT EXISTS under UPDLOCK + HOLDLOCK, so two concurrent
 * deliveries cannot both insert.
 */
export async function runOnce(trx: AnyKysely, eventId: string, consumer: string, now: Date = new Date()): Promise<boolean> {
  const processedAt = now.toISOString();
  if (dialectOf(trx) === "mssql") {
    const result = await sql`
      insert into inbox (event_id, consumer, processed_at)
      select ${eventId}, ${consumer}, ${processedAt}
      where not exists (select 1 from inbox with (updlock, holdlock) where event_id = ${eventId} and consumer = ${consumer})`.execute(trx);
    return Number(result.numAffectedRows ?? 0) === 1;
  }
  const result = await (trx as Kysely<MessagingTables>)
    .insertInto("inbox")
    .values({ event_id: eventId, consumer, processed_at: processedAt })
    .onConflict((conflict) => conflict.columns(["event_id", "consumer"]).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

/**
 * What a handler passed to handleOnce may return: work to do once its
 * transaction has committed, typically logging the outcome. A log line written
 * inside the transaction would claim an effect that a failed commit then takes
 * back, and anyone reading the store on seeing it could still find the old state.
 */
export type AfterCommit = () => void;

/**
 * Wraps a handler so it runs at most once per event id for `consumer`: it gets
 * a transaction that also records the inbox row, and a duplicate delivery
 * returns without calling it (so the bus acknowledges it). What the handler
 * returns runs after the commit.
 */
export function handleOnce<DB, E>(
  db: Kysely<DB>,
  consumer: string,
  handler: (trx: Transaction<DB>, event: E, meta: EventMeta) => Promise<AfterCommit | undefined>,
  logger?: Logger,
): EventHandler<E> {
  return async (event, meta) => {
    const afterCommit = await db.transaction().execute(async (trx): Promise<AfterCommit | undefined> => {
      if (!(await runOnce(trx, meta.eventId, consumer))) {
        return () =>
          logger?.info({ consumer, eventId: meta.eventId, type: meta.type, redelivered: meta.redelivered }, "duplicate event ignored (already processed)");
      }
      return handler(trx, event, meta);
    });
    afterCommit?.();
  };
}

/** Forgets inbox rows processed before `cutoff` (duplicates older than that are no longer expected). */
export async function pruneInbox(db: AnyKysely, cutoff: Date): Promise<number> {
  const result = await (db as Kysely<MessagingTables>).deleteFrom("inbox").where("processed_at", "<", cutoff.toISOString()).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Like handleOnce, for a handler whose effect lands in another store than
 * `db` (a read model in MongoDB), so the inbox row cannot share its
 * transaction. The effect must therefore be idempotent on its own (a write
 * guarded by a version, say): a delivery of an event already recorded for
 * `consumer` is skipped, otherwise the effect runs and the event is recorded
 * after it. A crash between the two, or two deliveries racing, only runs the
 * idempotent effect again.
 */
export function handleOnceBeside<E>(db: AnyKysely, consumer: string, handler: (event: E, meta: EventMeta) => Promise<void>, logger?: Logger): EventHandler<E> {
  return async (event, meta) => {
    const seen = await (db as Kysely<MessagingTables>)
      .selectFrom("inbox")
      .select("event_id")
      .where("event_id", "=", meta.eventId)
      .where("consumer", "=", consumer)
      .executeTakeFirst();
    if (seen !== undefined) {
      logger?.info({ consumer, eventId: meta.eventId, type: meta.type, redelivered: meta.redelivered }, "duplicate event ignored (already processed)");
      return;
    }
    await handler(event, meta);
    await runOnce(db, meta.eventId, consumer);
  };
}
