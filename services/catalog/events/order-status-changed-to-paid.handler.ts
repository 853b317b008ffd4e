// OrderStatusChangedToPaid → the order's reserved units become a sale: they
// leave reserved stock for good. The reservation rows, not the event's lines,
// say how many, so a sale never exceeds what was reserved.
import type { OrderStatusChangedToPaid } from "../../../gen/mel/events/v1/ordering_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import type { CatalogDatabase } from "../item.table.js";
import { settleReservations } from "../stock-reservation.repository.js";
import type { OrderFlowHandlerDeps } from "./order-status-changed-to-awaiting-validation.handler.js";

export function createOrderStatusChangedToPaidHandler({
  db,
  logger,
  now = () => new Date(),
}: Omit<OrderFlowHandlerDeps, "relay">): EventHandler<OrderStatusChangedToPaid> {
  return handleOnce<CatalogDatabase, OrderStatusChangedToPaid>(
    db,
    "catalog.sell-reserved-stock",
    async (trx, event, meta) => {
      const sold = await settleReservations(trx, event.orderId, "sold", now());
      if (sold.length === 0) {
        return () => logger.warn({ orderId: event.orderId, eventId: meta.eventId }, "paid order holds no open reservation; nothing to sell");
      }
      return () => logger.info({ orderId: event.orderId, eventId: meta.eventId, lines: sold }, "reserved stock sold");
    },
    logger,
  );
}
