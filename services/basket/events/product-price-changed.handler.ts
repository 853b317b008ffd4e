// ProductPriceChanged → every basket holding the product takes the new unit
// price and keeps the one its buyer saw (old_unit_price), so the buyer can be
// told. FerretDB v1 has neither arrayFilters nor the positional `$` update, so
// each basket is changed by its own read-modify-write under the revision
// filter, which also keeps a concurrent buyer edit from being lost. The line
// takes the change only when its price_version is newer than the line's, and
// that check runs on the revision the write is conditional on: a change older
// than the line's price (a retry that comes back late, another instance's
// consumer racing this one) writes nothing, whatever order they arrive in.
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
  // One product's price changes are applied one at a time in the order they are
  // delivered here: the versions decide which price wins, and this keeps
  // changes without one (version 0) in the order catalog published them.
  const inProductOrder = serializeByKey();
  const handle = handleEventOnce<ProductPriceChanged>(
    db,
    "basket.reprice-lines",
    async (event, meta) => {
      const { productId, newPrice, priceVersion } = event;
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
              const lines = applyPriceChange(basket.lines, productId, newPrice, priceVersion);
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
      logger.info({ eventId: meta.eventId, productId, newPrice, priceVersion, baskets: changed }, "baskets repriced after a catalog price change");
    },
    { logger, now },
  );
  return (event, meta) => inProductOrder(event.productId, () => handle(event, meta));
}
