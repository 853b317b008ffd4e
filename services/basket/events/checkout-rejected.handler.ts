// CheckoutRejected → ordering will never make the checkout's order, so the
// lines the checkout held until then are free again: its record (found by the
// event's checkout_request_id) is marked rejected with ordering's reason. The
// lines stay in the basket for the buyer to check out again, and a retry of
// the rejected request id answers FAILED_PRECONDITION with the reason. Marking
// is idempotent on its own (a record already rejected is left alone).
import type { CheckoutRejected } from "../../../gen/mel/events/v1/ordering_events.js";
import type { EventHandler } from "../../../platform/events/index.js";
import { checkoutToFields, fieldsToCheckout } from "../basket.mapper.js";
import { findBasketDocument, updateBasket } from "../basket.repository.js";
import { handleEventOnce } from "../basket-inbox.js";
import { lostRace, retryOnConflict } from "../basket-update.js";
import type { BasketHandlerDeps } from "./product-price-changed.handler.js";

export function createCheckoutRejectedHandler({ db, logger, writeRetry, now }: BasketHandlerDeps): EventHandler<CheckoutRejected> {
  return handleEventOnce<CheckoutRejected>(
    db,
    "basket.release-rejected-checkout",
    async (event, meta) => {
      const log = logger.child({ eventId: meta.eventId, orderId: event.orderId, buyerId: event.buyerId, requestId: event.checkoutRequestId });
      const requestId = event.checkoutRequestId.toLowerCase();
      const outcome = await retryOnConflict(`releasing the lines of rejected checkout ${requestId}`, writeRetry, async () => {
        const document = await findBasketDocument(db, event.buyerId);
        if (!document) return "no basket" as const;
        const checkouts = document.checkouts.map(fieldsToCheckout);
        const record = checkouts.find((candidate) => candidate.requestId === requestId);
        if (!record) return "no checkout record" as const;
        if (record.rejectedAt) return "already applied" as const;
        if (record.orderStartedAt) return "order started" as const;
        const rejectedAt = now();
        const marked = checkouts.map((candidate) => (candidate === record ? { ...candidate, rejectedAt, rejectionReason: event.reason } : candidate));
        const written = await updateBasket(db, event.buyerId, document.revision, { checkouts: marked.map(checkoutToFields) }, rejectedAt);
        return written ? ("released" as const) : lostRace;
      });
      if (outcome === "released") log.warn({ reason: event.reason }, "checkout rejected by ordering: its lines are free to check out again");
      else if (outcome === "already applied") log.info("CheckoutRejected already applied to the basket");
      else log.error({ outcome, reason: event.reason }, "CheckoutRejected matched no checkout awaiting its order");
    },
    { logger, now },
  );
}
