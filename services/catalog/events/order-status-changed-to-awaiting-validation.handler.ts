// OrderStatusChangedToAwaitingValidation → reserve the order's stock, all lines
// or none, and answer OrderStockConfirmed or OrderStockRejected through the
// outbox in the same transaction (so the answer exists exactly when the
// reservation does). The inbox makes a redelivered event change nothing.
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { OrderStockConfirmed, OrderStockRejected } from "../../../gen/mel/events/v1/catalog_events.js";
import type { OrderStatusChangedToAwaitingValidation } from "../../../gen/mel/events/v1/ordering_events.js";
import { addToOutbox, type EventHandler, handleOnce, type OutboxRelay } from "../../../platform/events/index.js";
import type { CatalogDatabase } from "../item.table.js";
import { reserveOrderStock } from "./reserve-order-stock.js";

export interface OrderFlowHandlerDeps {
  db: Kysely<CatalogDatabase>;
  relay: Pick<OutboxRelay, "notify">;
  logger: Logger;
  now?: () => Date;
}

export function createOrderStatusChangedToAwaitingValidationHandler({
  db,
  relay,
  logger,
  now = () => new Date(),
}: OrderFlowHandlerDeps): EventHandler<OrderStatusChangedToAwaitingValidation> {
  const handle = handleOnce<CatalogDatabase, OrderStatusChangedToAwaitingValidation>(
    db,
    "catalog.reserve-order-stock",
    async (trx, event, meta) => {
      const outcome = await reserveOrderStock(trx, event.orderId, event.items, now());
      const trace = { correlationId: meta.correlationId, traceparent: meta.traceparent };
      switch (outcome.kind) {
        case "confirmed":
          await addToOutbox(trx, OrderStockConfirmed, { orderId: event.orderId }, trace);
          return () => logger.info({ orderId: event.orderId, eventId: meta.eventId, lines: outcome.lines.length }, "order stock reserved");
        case "rejected":
          await addToOutbox(trx, OrderStockRejected, { orderId: event.orderId, shortages: outcome.shortages }, trace);
          return () => logger.info({ orderId: event.orderId, eventId: meta.eventId, shortages: outcome.shortages }, "order stock rejected");
        case "already-reserved":
          return () => logger.warn({ orderId: event.orderId, eventId: meta.eventId }, "order already holds a reservation; event ignored");
      }
    },
    logger,
  );
  return async (event, meta) => {
    await handle(event, meta);
    relay.notify();
  };
}
