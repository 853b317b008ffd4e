// OrderStatusChangedToCancelled → whatever the order still holds goes back to
// available stock. An order cancelled before (or without) a reservation, or
// already released, holds nothing: then this changes nothing.
import type { OrderStatusChangedToCancelled } from "../../../gen/mel/events/v1/ordering_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import type { CatalogDatabase } from "../item.table.js";
import { settleReservations } from "../stock-reservation.repository.js";
import type { OrderFlowHandlerDeps } from "./order-status-changed-to-awaiting-validation.handler.js";

export function createOrderStatusChangedToCancelledHandler({
  db,
  logger,
  now = () => new Date(),
}: Omit<OrderFlowHandlerDeps, "relay">): EventHandler<OrderStatusChangedToCancelled> {
  return handleOnce<CatalogDatabase, OrderStatusChangedToCancelled>(
    db,
    "catalog.release-reserved-stock",
    async (trx, event, meta) => {
      const released = await settleReservations(trx, event.orderId, "released", now());
      return () =>
        logger.info(
          { orderId: event.orderId, eventId: meta.eventId, reason: event.reason, lines: released },
          released.length > 0 ? "reserved stock released" : "cancelled order held no reservation",
        );
    },
    logger,
  );
}
