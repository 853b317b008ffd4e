// OrderStockConfirmed → STOCK_CONFIRMED, which schedules the payment step.
// Stock confirmed for an order the buyer cancelled meanwhile (catalog took
// the reservation after our cancellation went out) is given back: the
// cancellation is announced again so catalog releases it.
import type { OrderStockConfirmed } from "../../../gen/mel/events/v1/catalog_events.js";
import { OrderCancellationCause } from "../../../gen/mel/events/v1/ordering_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import { IllegalTransitionError } from "../order.js";
import { findOrderRecord } from "../order.repository.js";
import type { OrderingDatabase } from "../order.table.js";
import { announceCancellation, changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";

export function createOrderStockConfirmedHandler({
  db,
  logger,
  timings,
  orderChanged,
  now = () => new Date(),
}: OrderFlowDeps): EventHandler<OrderStockConfirmed> {
  const handle = handleOnce<OrderingDatabase, OrderStockConfirmed>(
    db,
    "ordering.confirm-stock",
    async (trx, event, meta) => {
      const trace = { correlationId: meta.correlationId, traceparent: meta.traceparent };
      try {
        await changeOrderStatus(trx, event.orderId, "STOCK_CONFIRMED", { now: now(), timings, trace });
        return () => logger.info({ orderId: event.orderId, eventId: meta.eventId }, "order stock confirmed; payment next");
      } catch (error) {
        if (!(error instanceof IllegalTransitionError)) throw error;
        if (error.current === "CANCELLED") {
          const record = await findOrderRecord(trx, event.orderId);
          if (record) {
            await announceCancellation(
              trx,
              record.order,
              "order was cancelled before its stock was reserved",
              OrderCancellationCause.ORDER_CANCELLATION_CAUSE_UNSPECIFIED,
              {
                correlationId: trace.correlationId ?? record.trace.correlationId,
                traceparent: trace.traceparent ?? record.trace.traceparent,
              },
            );
          }
          return () => logger.info({ orderId: event.orderId, eventId: meta.eventId }, "stock confirmed for a cancelled order; asked catalog to release it");
        }
        return () =>
          logger.warn(
            { orderId: event.orderId, eventId: meta.eventId, status: error.current },
            "stock confirmation does not apply to the order's status; ignored",
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
