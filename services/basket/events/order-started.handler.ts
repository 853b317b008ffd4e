// OrderStarted → the order exists, so the buyer's basket lines that went into
// it are removed. The checkout record (found by the event's
// checkout_request_id) says which units those were: only they are removed, so
// products the buyer added after checking out stay for the next order. The
// record is marked started in the same update, so the event is applied once
// even without the inbox. An unknown request id (record pruned, or a checkout
// from elsewhere) removes nothing: deleting lines we cannot tie to the order
// could throw away a newer basket. The voucher the checkout carried goes too:
// the order redeemed it.
import type { OrderStarted } from "../../../gen/mel/events/v1/ordering_events.js";
import type { EventHandler } from "../../../platform/events/index.js";
import { removeCheckedOutUnits } from "../basket.js";
import { checkoutToFields, fieldsToCheckout, fieldsToLine, lineToFields } from "../basket.mapper.js";
import { findBasketDocument, updateBasket } from "../basket.repository.js";
import { handleEventOnce } from "../basket-inbox.js";
import { lostRace, retryOnConflict } from "../basket-update.js";
import type { BasketHandlerDeps } from "./product-price-changed.handler.js";

export function createOrderStartedHandler({ db, logger, writeRetry, now }: BasketHandlerDeps): EventHandler<OrderStarted> {
  return handleEventOnce<OrderStarted>(
    db,
    "basket.remove-ordered-lines",
    async (event, meta) => {
      const log = logger.child({ eventId: meta.eventId, orderId: event.orderId, buyerId: event.buyerId, requestId: event.checkoutRequestId });
      if (event.buyerId === "" || event.checkoutRequestId === "") {
        throw new Error(`OrderStarted ${meta.eventId} lacks buyer_id or checkout_request_id; cannot tell which basket lines were ordered`);
      }
      const requestId = event.checkoutRequestId.toLowerCase();
      const outcome = await retryOnConflict(`removing the lines of order ${event.orderId}`, writeRetry, async () => {
        const document = await findBasketDocument(db, event.buyerId);
        if (!document) return "no basket" as const;
        const checkouts = document.checkouts.map(fieldsToCheckout);
        const record = checkouts.find((candidate) => candidate.requestId === requestId);
        if (!record) return "no checkout record" as const;
        if (record.orderStartedAt) return "already applied" as const;
        if (record.orderId !== event.orderId) log.warn({ recordedOrderId: record.orderId }, "OrderStarted names another order id than the checkout recorded");
        const startedAt = now();
        const lines = removeCheckedOutUnits(document.lines.map(fieldsToLine), record.lines);
        const marked = checkouts.map((candidate) => (candidate === record ? { ...candidate, orderStartedAt: startedAt } : candidate));
        const written = await updateBasket(
          db,
          event.buyerId,
          document.revision,
          {
            lines: lines.map(lineToFields),
            checkouts: marked.map(checkoutToFields),
            // The order consumed the voucher it carried: it is not offered to the next order.
            ...(record.voucherCode !== undefined && document.voucher?.code.toUpperCase() === record.voucherCode.toUpperCase() ? { voucher: null } : {}),
          },
          startedAt,
        );
        return written ? ("removed" as const) : lostRace;
      });
      if (outcome === "removed") log.info("ordered lines removed from the basket");
      else if (outcome === "already applied") log.info("OrderStarted already applied to the basket");
      else log.warn({ outcome }, "OrderStarted removed nothing from the basket");
    },
    { logger, now },
  );
}
