// UserCheckoutAccepted → the order (SUBMITTED) and OrderStarted, in one
// transaction with the inbox row. One order per checkout request: a
// redelivery (same event id) is stopped by the inbox, and the same request
// published again under a new event id finds its order by request id.
import type { UserCheckoutAccepted } from "../../../gen/mel/events/v1/basket_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import { orderFromCheckout } from "../order.js";
import { checkoutToDraft } from "../order.mapper.js";
import { findOrderIdByCheckoutRequest, findOrderVersion } from "../order.repository.js";
import type { OrderingDatabase } from "../order.table.js";
import { type OrderFlowDeps, startOrder } from "../order-flow.js";

export function createUserCheckoutAcceptedHandler({
  db,
  logger,
  timings,
  orderChanged,
  now = () => new Date(),
}: OrderFlowDeps): EventHandler<UserCheckoutAccepted> {
  const handle = handleOnce<OrderingDatabase, UserCheckoutAccepted>(
    db,
    "ordering.start-order",
    async (trx, event, meta) => {
      const log = { orderId: event.orderId, checkoutRequestId: event.requestId, eventId: meta.eventId };
      const existing = await findOrderIdByCheckoutRequest(trx, event.requestId);
      if (existing !== undefined) {
        return () => logger.info({ ...log, existingOrderId: existing }, "checkout request already made its order; event ignored");
      }
      if ((await findOrderVersion(trx, event.orderId)) !== undefined) {
        return () => logger.error(log, "order id already belongs to another checkout request; event ignored");
      }
      let order;
      try {
        order = orderFromCheckout(checkoutToDraft(event), now());
      } catch (error) {
        // Retried, then parked in the DLQ with this reason for an operator.
        logger.error({ ...log, err: error instanceof Error ? error.message : String(error) }, "checkout event cannot make an order");
        throw error;
      }
      await startOrder(trx, order, { correlationId: meta.correlationId, traceparent: meta.traceparent }, timings);
      return () => logger.info({ ...log, buyerId: order.buyerId, lines: order.lines.length, total: order.total }, "order submitted");
    },
    logger,
  );
  return async (event, meta) => {
    await handle(event, meta);
    orderChanged(event.orderId);
  };
}
