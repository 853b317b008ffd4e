// UserCheckoutAccepted → the order (SUBMITTED) and OrderStarted, in one
// transaction with the inbox row. One order per checkout request of a buyer
// (request ids are the buyer's idempotency keys; two buyers may pick the same
// one): a redelivery (same event id) is stopped by the inbox, and the same
// checkout published again under a new event id finds its order by buyer and
// request id. A checkout that can never become its order (malformed, or its
// order id or request id taken by another order) is not dropped: it is
// rejected, logged at error, and CheckoutRejected tells basket, which releases
// the lines the checkout held and answers a retry of it with the reason.
import type { UserCheckoutAccepted } from "../../../gen/mel/events/v1/basket_events.js";
import { OrderCancellationCause } from "../../../gen/mel/events/v1/ordering_events.js";
import { InvalidArgumentError } from "../../../platform/errors/index.js";
import { type EventHandler, handleOnce } from "../../../platform/events/index.js";
import { orderFromCheckout } from "../order.js";
import { checkoutToDraft } from "../order.mapper.js";
import { findOrderIdByCheckoutRequest, findOrderVersion } from "../order.repository.js";
import type { OrderingDatabase } from "../order.table.js";
import { changeOrderStatus, type OrderFlowDeps, redeemVoucher, rejectCheckout, startOrder } from "../order-flow.js";

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
      const log = { orderId: event.orderId, buyerId: event.buyerId, checkoutRequestId: event.requestId, eventId: meta.eventId };
      const trace = { correlationId: meta.correlationId, traceparent: meta.traceparent };
      const reject = async (reason: string) => {
        await rejectCheckout(trx, { orderId: event.orderId, buyerId: event.buyerId, checkoutRequestId: event.requestId, reason }, trace);
        return () => logger.error({ ...log, reason }, "checkout rejected: it cannot make its order");
      };
      const existing = await findOrderIdByCheckoutRequest(trx, event.buyerId, event.requestId);
      if (existing === event.orderId) {
        return () => logger.info(log, "checkout request already made its order; event ignored");
      }
      if (existing !== undefined) {
        // Basket gave this request another order id (its checkout record was pruned and the buyer retried).
        return reject(`checkout request ${event.requestId} already made order ${existing}; it cannot also make order ${event.orderId}`);
      }
      if ((await findOrderVersion(trx, event.orderId)) !== undefined) {
        return reject(`order id ${event.orderId} already belongs to another checkout`);
      }
      const at = now();
      let order: ReturnType<typeof orderFromCheckout>;
      try {
        order = orderFromCheckout(checkoutToDraft(event), at);
      } catch (error) {
        // No retry makes a malformed checkout valid. Anything else (the database) is retried by the bus.
        if (error instanceof InvalidArgumentError) return reject(`the checkout is invalid: ${error.message}`);
        throw error;
      }
      // The voucher is redeemed in this transaction: the order exists with its discount, or not at all.
      const redemption = event.voucherCode === "" ? undefined : await redeemVoucher(trx, order, event.voucherCode, at);
      if (redemption?.redeemed) order = redemption.order;
      await startOrder(trx, order, trace, timings);
      if (redemption !== undefined && !redemption.redeemed) {
        // The buyer was shown a discount the order cannot have: it is cancelled, naming the voucher, rather than charged more.
        await changeOrderStatus(trx, order.id, "CANCELLED", {
          now: at,
          timings,
          reason: `cancelled: ${redemption.reason}`,
          cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_VOUCHER_UNAVAILABLE,
          trace,
        });
        return () => logger.info({ ...log, reason: redemption.reason }, "order cancelled: its voucher could not be redeemed");
      }
      const submitted = order;
      return () => logger.info({ ...log, lines: submitted.lines.length, total: submitted.total, voucher: submitted.voucherCode }, "order submitted");
    },
    logger,
  );
  return async (event, meta) => {
    await handle(event, meta);
    orderChanged(event.orderId);
  };
}
