// Prices from the catalog service (GetItemsByIds over gRPC through the
// platform client: deadline, retries, breaker). One lookup serves one basket
// call: a write that loses a race and re-reads the basket asks the catalog
// only for products it has not priced yet.
import type { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { StatusCode, UnavailableError } from "../../platform/errors/index.js";
import { callUnary, UpstreamFailureError } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { CatalogPrice } from "./basket.js";
import { catalogItemToPrice } from "./basket.mapper.js";

export type PriceLookup = (productIds: readonly string[]) => Promise<ReadonlyMap<string, CatalogPrice>>;

/**
 * A lookup that remembers what it fetched. Products the catalog does not know
 * are absent from the map (priceLines turns that into NOT_FOUND). A catalog
 * that is down or too slow becomes UNAVAILABLE with a message saying the
 * basket was left as it was; any other catalog failure is basket's INTERNAL
 * "catalog failed" (see upstreamFailure).
 */
export function createPriceLookup(catalog: CatalogServiceClient, call: { log: Logger; signal?: AbortSignal }): PriceLookup {
  const known = new Map<string, CatalogPrice>();
  const asked = new Set<string>();
  return async (productIds) => {
    const ids = [...new Set(productIds)].filter((id) => !asked.has(id));
    if (ids.length > 0) {
      let response: Awaited<ReturnType<typeof callUnary<CatalogServiceClient, "getItemsByIds">>>;
      try {
        response = await callUnary(catalog, "getItemsByIds", { ids }, call.signal ? { signal: call.signal } : {});
      } catch (error) {
        // The platform logged the catalog's own answer; the buyer learns what it means for their basket.
        if (error instanceof UpstreamFailureError && error.code === StatusCode.UNAVAILABLE) {
          throw new UnavailableError("the catalog service is unavailable, so prices cannot be checked; your basket was not changed, try again shortly", {
            cause: error,
            reason: error.reason,
            metadata: error.metadata,
          });
        }
        throw error;
      }
      for (const item of response.items) {
        const price = catalogItemToPrice(item);
        if (price) known.set(item.id, price);
      }
      for (const id of ids) asked.add(id);
    }
    return known;
  };
}
