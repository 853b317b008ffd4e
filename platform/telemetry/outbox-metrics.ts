// The outbox as an operator watches it: how many rows wait to be published
// and how old the oldest is (the relay's lag), read from the table when
// Prometheus scrapes, so the numbers hold whichever relay instance is behind.
import { metrics } from "@opentelemetry/api";
import type { Kysely } from "kysely";
import type { MessagingTables } from "../events/messaging.table.js";
import type { AnyKysely } from "../sql/index.js";

/**
 * Reports mel.outbox.backlog (unpublished rows) and mel.outbox.lag (seconds
 * since the oldest unpublished row was written, 0 when none waits) of `db`'s
 * outbox on every collection. Returns the function that stops reporting.
 */
export function observeOutbox(db: AnyKysely, logError: (error: unknown) => void): () => void {
  const meter = metrics.getMeter("mel.events");
  const backlog = meter.createObservableGauge("mel.outbox.backlog", { description: "Outbox rows not yet published" });
  const lag = meter.createObservableGauge("mel.outbox.lag", { unit: "s", description: "Age of the oldest unpublished outbox row" });
  const callback = async (observe: { observe(gauge: typeof backlog, value: number): void }) => {
    try {
      const row = await (db as Kysely<MessagingTables>)
        .selectFrom("outbox")
        .select((eb) => [eb.fn.countAll<number | string | bigint>().as("waiting"), eb.fn.min("created_at").as("oldest")])
        .where("published_at", "is", null)
        .executeTakeFirst();
      observe.observe(backlog, Number(row?.waiting ?? 0));
      observe.observe(lag, row?.oldest ? Math.max(0, (Date.now() - Date.parse(String(row.oldest))) / 1000) : 0);
    } catch (error) {
      // A scrape while the database is away reports nothing rather than a wrong zero.
      logError(error);
    }
  };
  meter.addBatchObservableCallback(callback, [backlog, lag]);
  return () => meter.removeBatchObservableCallback(callback, [backlog, lag]);
}
