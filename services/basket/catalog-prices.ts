// Prices from the catalog service (GetItemsByIds over gRPC through the
// platform client: deadline, retries, breaker). One lookup serves one basket
// call: a write that loses a race and re-reads the basket asks the catalog
// only for products it has not priced yet.
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { UnavailableError } from "../../platform/errors/index.js";
import { callUnary } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import type { CatalogPrice } from "./basket.js";
import { catalogItemToPrice } from "./basket.mapper.js";

/** Statuses meaning the catalog could not answer now: the buyer may try again later. */
const unavailableCodes: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.CANCELLED,
]);

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}

export type PriceLookup = (productIds: readonly string[]) => Promise<ReadonlyMap<string, CatalogPrice>>;

/**
 * A lookup that remembers what it fetched. Products the catalog does not know
 * are absent from the map (priceLines turns that into NOT_FOUND). A catalog
 * that is down or too slow becomes UNAVAILABLE with a message saying the
 * basket was left as it was.
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
        if (isServiceError(error) && unavailableCodes.has(error.code)) {
          // The upstream's own details (addresses, connection errors) go to the log, not to the buyer.
          call.log.warn({ upstream: "catalog", code: error.code, details: error.details }, "catalog call failed while pricing a basket");
          throw new UnavailableError("the catalog service is unavailable, so prices cannot be checked; your basket was not changed, try again shortly", {
            cause: error,
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
