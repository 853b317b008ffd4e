// The storefront's only way to the services: generated gRPC-Web clients over
// one transport to the page's own origin (the gateway). Every call has a
// deadline: the transport's default, or the caller's own for long streams.
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BasketService } from "../../../gen/web/mel/basket/v1/basket_pb.js";
import { CatalogService } from "../../../gen/web/mel/catalog/v1/catalog_pb.js";
import { IdentityService } from "../../../gen/web/mel/identity/v1/identity_pb.js";
import { OrderingService } from "../../../gen/web/mel/ordering/v1/ordering_pb.js";

export const callTimeoutMs = 10_000;
/** WatchOrder stays open while the shopper looks at the order; the gateway caps streams too. */
export const watchTimeoutMs = 30 * 60_000;

export interface Clients {
  identity: Client<typeof IdentityService>;
  catalog: Client<typeof CatalogService>;
  basket: Client<typeof BasketService>;
  ordering: Client<typeof OrderingService>;
}

export function createClients(interceptors: Interceptor[]): Clients {
  const transport = createGrpcWebTransport({
    baseUrl: location.origin,
    defaultTimeoutMs: callTimeoutMs,
    interceptors,
    // Same-origin requests carry the refresh-token cookie to identity (the cookie's path limits it to identity's calls).
    fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin" }),
  });
  return {
    identity: createClient(IdentityService, transport),
    catalog: createClient(CatalogService, transport),
    basket: createClient(BasketService, transport),
    ordering: createClient(OrderingService, transport),
  };
}
