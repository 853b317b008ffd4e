// OrderStockRejected → CANCELLED, the reason naming every short product.
// Catalog reserved nothing, but the cancellation still goes out (its
// consumers release whatever the order holds, which is nothing here).
import type { OrderStockRejected } from "../../../gen/mel/events/v1/catalog_events.js";
import { OrderCancellationCause } from "../../../gen/mel/events/v1/ordering_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import { IllegalTransitionError, stockRejectedReason } from "../order.js";
import type { OrderingDatabase } from "../order.table.js";
import { changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";

export function createOrderStockRejectedHandler({
  db,
  logger,
  timings,
  orderChanged,
  now = () => new Date(),
}: OrderFlowDeps): EventHandler<OrderStockRejected> {
  const handle = handleOnce<OrderingDatabase, OrderStockRejected>(
    db,
    "ordering.reject-stock",
    async (trx, event, meta) => {
      const reason = stockRejectedReason(event.shortages);
      try {
        await changeOrderStatus(trx, event.orderId, "CANCELLED", {
          now: now(),
          timings,
          reason,
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT,
          trace: { correlationId: meta.correlationId, traceparent: meta.traceparent },
        });
        return () => logger.info({ orderId: event.orderId, eventId: meta.eventId, shortages: event.shortages }, "order cancelled: stock rejected");
      } catch (error) {
        if (!(error instanceof IllegalTransitionError)) throw error;
        return () =>
          logger.warn(
            { orderId: event.orderId, eventId: meta.eventId, status: error.current },
            "stock rejection does not apply to the order's status; ignored",
          );
      }
    },
    logger,
  );
  return async (event, meta) => {
    await handle(event, meta);
    orderChanged(event.orderId);
  };
}
