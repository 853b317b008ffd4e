// OrderStatusChangedToCancelled → when the shop cancelled the order (stock
// short, card declined, voucher unavailable), its units go back into the
// buyer's basket, merged with whatever was added since and priced as the
// catalog prices them now, so the buyer can fix the basket and check out
// again. A buyer's own cancellation, or one that states no cause, leaves the
// basket alone.
//
// Ordering may announce one cancellation more than once under new event ids,
// so the inbox alone cannot make this happen once: the order id is recorded
// in the basket document in the same conditional update that gives the lines
// back, and a later announcement for it finds it there. A cancellation that
// overtakes its OrderStarted finds the order's units still in the basket and
// keeps them there.
import type { CatalogServiceClient } from "../../../gen/mel/catalog/v1/catalog.js";
import { OrderCancellationCause, type OrderStatusChangedToCancelled } from "../../../gen/mel/events/v1/ordering_events.js";
import type { EventHandler } from "../../../platform/events/index.js";
import { type BasketLimits, giveBackUnits, type ItemQuantity, priceLines } from "../basket.js";
import { fieldsToLine, lineToFields } from "../basket.mapper.js";
import type { ReturnedOrderFields } from "../basket.model.js";
import { findBasketDocument, insertBasketDocument, updateBasket } from "../basket.repository.js";
import { handleEventOnce } from "../basket-inbox.js";
import { lostRace, retryOnConflict } from "../basket-update.js";
import { createPriceLookup } from "../catalog-prices.js";
import type { BasketHandlerDeps } from "./product-price-changed.handler.js";

export interface OrderCancelledHandlerDeps extends BasketHandlerDeps {
  catalog: CatalogServiceClient;
  limits: BasketLimits;
}

/** Causes on the shop's side: the buyer still wants the goods. */
const givenBackCauses: ReadonlySet<OrderCancellationCause> = new Set([
  OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT,
  OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED,
  OrderCancellationCause.ORDER_CANCELLATION_CAUSE_VOUCHER_UNAVAILABLE,
]);

/**
 * Orders remembered as given back, per basket. A repeat announcement comes
 * within the event retries and outbox replays of its order, long before a
 * buyer has had this many more orders cancelled.
 */
const maxReturnedOrders = 50;

export function createOrderStatusChangedToCancelledHandler({
  db,
  logger,
  writeRetry,
  now,
  catalog,
  limits,
}: OrderCancelledHandlerDeps): EventHandler<OrderStatusChangedToCancelled> {
  return handleEventOnce<OrderStatusChangedToCancelled>(
    db,
    "basket.give-back-cancelled-order",
    async (event, meta) => {
      const log = logger.child({ eventId: meta.eventId, orderId: event.orderId, buyerId: event.buyerId, cause: event.cause });
      if (!givenBackCauses.has(event.cause)) {
        log.info("order cancelled by the buyer or for no stated cause: the basket stays as it is");
        return;
      }
      // A malformed event cannot succeed later: throwing sends it through the retries to the DLQ, with this reason.
      if (event.buyerId === "" || event.orderId === "") {
        throw new Error(`OrderStatusChangedToCancelled ${meta.eventId} lacks buyer_id or order_id; cannot tell whose basket gets the lines back`);
      }
      const items: ItemQuantity[] = event.items.filter((item) => item.units > 0).map((item) => ({ productId: item.productId, quantity: item.units }));
      const prices = createPriceLookup(catalog, { log });
      const outcome = await retryOnConflict(`giving back the lines of cancelled order ${event.orderId}`, writeRetry, async () => {
        const document = await findBasketDocument(db, event.buyerId);
        const returned = document?.returnedOrders ?? [];
        if (returned.some((entry) => entry.orderId === event.orderId)) return { applied: false as const };
        const returnedAt = now();
        const returnedOrders: ReturnedOrderFields[] = [...returned, { orderId: event.orderId, returnedAt }].slice(-maxReturnedOrders);
        const pending = document?.checkouts.find((record) => record.orderId === event.orderId && !record.orderStartedAt && !record.rejectedAt);
        if (document && pending) {
          // OrderStarted has not reached the basket yet, so the order's units never left it. Marking the record started
          // keeps the late OrderStarted from removing them; nothing is added, or the buyer would have them twice.
          const checkouts = document.checkouts.map((record) => (record === pending ? { ...record, orderStartedAt: returnedAt } : record));
          const written = await updateBasket(db, event.buyerId, document.revision, { checkouts, returnedOrders }, returnedAt);
          return written ? { applied: true as const, leftOut: [], gone: [] } : lostRace;
        }
        const catalogPrices = await prices(items.map((item) => item.productId));
        // A product the catalog no longer has cannot be bought again: it is left out rather than added unpriced.
        const gone = items.filter((item) => !catalogPrices.has(item.productId));
        const { lines, leftOut } = giveBackUnits(
          (document?.lines ?? []).map(fieldsToLine),
          items.filter((item) => catalogPrices.has(item.productId)),
          limits,
        );
        const priced = priceLines(lines, catalogPrices, new Set());
        const written = document
          ? await updateBasket(db, event.buyerId, document.revision, { lines: priced.map(lineToFields), returnedOrders }, returnedAt)
          : await insertBasketDocument(db, event.buyerId, priced.map(lineToFields), returnedAt, { returnedOrders });
        return written ? { applied: true as const, leftOut, gone } : lostRace;
      });
      if (!outcome.applied) {
        log.info("cancelled order already given back to the basket");
        return;
      }
      if (outcome.leftOut.length > 0 || outcome.gone.length > 0) {
        log.warn(
          { leftOut: outcome.leftOut, notInCatalog: outcome.gone },
          "cancelled order given back to the basket, except what the basket's limits or the catalog left out",
        );
      } else {
        log.info({ lines: items.length }, "cancelled order given back to the basket");
      }
    },
    { logger, now },
  );
}
