// ProductPriceChanged → every basket holding the product takes the new unit
// price and keeps the one its buyer saw (old_unit_price), so the buyer can be
// told. FerretDB v1 has neither arrayFilters nor the positional `$` update, so
// each basket is changed by its own read-modify-write under the version filter,
// which also keeps a concurrent buyer edit from being lost.
import type { ProductPriceChanged } from "../../../gen/mel/events/v1/catalog_events.js";
import { type EventHandler, serializeByKey } from "../../../platform/events/index.js";
import type { Logger } from "../../../platform/log/index.js";
import { applyPriceChange } from "../basket.js";
import type { BasketDb } from "../basket.model.js";
import { findBuyersHoldingProduct } from "../basket.repository.js";
import { handleEventOnce } from "../basket-inbox.js";
import { changeBasketLines, type WriteRetry } from "../basket-update.js";

export interface BasketHandlerDeps {
  db: BasketDb;
  logger: Logger;
  writeRetry: WriteRetry;
  now: () => Date;
}

/** Baskets read per page while walking those that hold the product. */
const pageSize = 100;

export function createProductPriceChangedHandler({ db, logger, writeRetry, now }: BasketHandlerDeps): EventHandler<ProductPriceChanged> {
  // One product's price changes are applied in the order they are delivered (the
  // order catalog published them): handled side by side, an older price could land last.
  const inProductOrder = serializeByKey();
  const handle = handleEventOnce<ProductPriceChanged>(
    db,
    "basket.reprice-lines",
    async (event, meta) => {
      const { productId, newPrice } = event;
      // A malformed event cannot succeed later: throwing sends it through the retries to the DLQ, with this reason.
      if (productId === "" || !newPrice || newPrice.currencyCode === "") {
        throw new Error(`ProductPriceChanged ${meta.eventId} lacks product_id or new_price; cannot reprice baskets`);
      }
      let changed = 0;
      let after: string | undefined;
      for (;;) {
        const buyers = await findBuyersHoldingProduct(db, productId, after, pageSize);
        for (const buyerId of buyers) {
          let applied = false;
          await changeBasketLines(
            db,
            buyerId,
            `repricing ${productId}`,
            (basket) => {
              const lines = applyPriceChange(basket.lines, productId, newPrice);
              applied = lines !== undefined;
              return lines;
            },
            { retry: writeRetry, now },
          );
          if (applied) changed += 1;
        }
        if (buyers.length < pageSize) break;
        after = buyers[buyers.length - 1];
      }
      logger.info({ eventId: meta.eventId, productId, newPrice, baskets: changed }, "baskets repriced after a catalog price change");
    },
    { logger, now },
  );
  return (event, meta) => inProductOrder(event.productId, () => handle(event, meta));
}
