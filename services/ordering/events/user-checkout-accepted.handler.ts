// UserCheckoutAccepted → the order (SUBMITTED) and OrderStarted, in one
// transaction with the inbox row. One order per checkout request of a buyer
// (request ids are the buyer's idempotency keys; two buyers may pick the same
// one): a redelivery (same event id) is stopped by the inbox, and the same
// checkout published again under a new event id finds its order by buyer and
// request id. A checkout that cannot become its order is never acknowledged
// as if it had: the handler throws, so the bus retries it and then parks it in
// the DLQ with the reason, where an operator sees it.
import type { UserCheckoutAccepted } from "../../../gen/mel/events/v1/basket_events.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import { orderFromCheckout } from "../order.js";
import { checkoutToDraft } from "../order.mapper.js";
import { findOrderIdByCheckoutRequest, findOrderVersion } from "../order.repository.js";
import type { OrderingDatabase } from "../order.table.js";
import { type OrderFlowDeps, startOrder } from "../order-flow.js";

/** A checkout whose order id or request id is taken by another order: it cannot make its own. */
export class CheckoutConflictError extends Error {
  override readonly name = "CheckoutConflictError";
}

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
      const existing = await findOrderIdByCheckoutRequest(trx, event.buyerId, event.requestId);
      if (existing === event.orderId) {
        return () => logger.info(log, "checkout request already made its order; event ignored");
      }
      if (existing !== undefined) {
        // Basket gave this request another order id (its checkout record was pruned and the buyer retried): the buyer
        // was promised an order that would never exist if this were ignored.
        logger.error({ ...log, existingOrderId: existing }, "checkout request already made another order");
        throw new CheckoutConflictError(
          `checkout request ${event.requestId} of buyer ${event.buyerId} already made order ${existing}; it cannot also make order ${event.orderId}`,
        );
      }
      if ((await findOrderVersion(trx, event.orderId)) !== undefined) {
        logger.error(log, "order id already belongs to another checkout");
        throw new CheckoutConflictError(`order id ${event.orderId} already belongs to another checkout; checkout request ${event.requestId} made no order`);
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
