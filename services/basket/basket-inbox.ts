// The basket's inbox: RabbitMQ delivers at least once, so each handler runs at
// most once per (event id, consumer), recorded in the basket_inbox collection
// under a unique index. MongoDB-protocol stores without a replica set (and
// FerretDB v1) have no multi-document transactions, so the record cannot be
// written atomically with a basket change: the effect runs first and the
// record after it. Every basket handler is therefore also idempotent on its
// own (a price already current changes nothing; a checkout record marked as
// started is not applied twice), and the inbox turns a duplicate into a cheap no-op.
import type { EventHandler, EventMeta } from "../../platform/events/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { BasketDb } from "./basket.model.js";
import { isEventHandled, recordEventHandled } from "./basket.repository.js";

export function handleEventOnce<E>(
  db: BasketDb,
  consumer: string,
  handler: (event: E, meta: EventMeta) => Promise<void>,
  options: { logger: Logger; now: () => Date },
): EventHandler<E> {
  return async (event, meta) => {
    if (await isEventHandled(db, meta.eventId, consumer)) {
      options.logger.info({ consumer, eventId: meta.eventId, type: meta.type, redelivered: meta.redelivered }, "duplicate event ignored (already handled)");
      return;
    }
    await handler(event, meta);
    await recordEventHandled(db, meta.eventId, consumer, options.now());
  };
}
