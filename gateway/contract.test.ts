// The public contract as the gateway sees it in gen/descriptor.binpb: every
// RPC of the store reachable over HTTP/JSON, and the names and routes other
// tools rely on present. A proto change that drops an annotation or renames
// a fixed route fails here, before any client notices.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createServiceCatalog, readDescriptorSet } from "./descriptors.js";
import { descriptorPath } from "./testing/test-stack.js";

const storeServices = ["mel.identity.v1.IdentityService", "mel.catalog.v1.CatalogService", "mel.basket.v1.BasketService", "mel.ordering.v1.OrderingService"];
const catalog = createServiceCatalog(readDescriptorSet(descriptorPath), storeServices);
const routes = new Set(catalog.bindings.map((binding) => `${binding.httpMethod} ${binding.template.source} → ${binding.target.grpcPath}`));

describe("the store's public contract", () => {
  it("gives every RPC of the four services a google.api.http route", () => {
    const annotated = new Set(catalog.bindings.map((binding) => binding.target.grpcPath));
    const unannotated = [...catalog.methodsByPath.keys()].filter((path) => !annotated.has(path));
    assert.deepEqual(unannotated, []);
    assert.ok(catalog.methodsByPath.size >= 30, `expected the whole API, found ${catalog.methodsByPath.size} RPCs`);
  });

  it("keeps the fixed RPC names", () => {
    const fixed = [
      "/mel.identity.v1.IdentityService/Register",
      "/mel.identity.v1.IdentityService/Login",
      "/mel.identity.v1.IdentityService/Refresh",
      "/mel.identity.v1.IdentityService/Logout",
      "/mel.identity.v1.IdentityService/Me",
      "/mel.identity.v1.IdentityService/GetJwks",
      "/mel.catalog.v1.CatalogService/ListItems",
      "/mel.catalog.v1.CatalogService/GetItem",
      "/mel.catalog.v1.CatalogService/GetItemsByIds",
      "/mel.basket.v1.BasketService/GetBasket",
      "/mel.basket.v1.BasketService/AddItem",
      "/mel.basket.v1.BasketService/Checkout",
      "/mel.ordering.v1.OrderingService/ListOrders",
      "/mel.ordering.v1.OrderingService/GetOrder",
      "/mel.ordering.v1.OrderingService/CancelOrder",
      "/mel.ordering.v1.OrderingService/WatchOrder",
    ];
    assert.deepEqual(
      fixed.filter((path) => !catalog.methodsByPath.has(path)),
      [],
    );
    const watch = catalog.methodsByPath.get("/mel.ordering.v1.OrderingService/WatchOrder")!;
    assert.equal(watch.method.methodKind, "server_streaming");
  });

  it("keeps the fixed HTTP routes on the RPCs they name", () => {
    const fixed = [
      "GET /api/v1/catalog/items → /mel.catalog.v1.CatalogService/ListItems",
      "GET /api/v1/catalog/items/{id} → /mel.catalog.v1.CatalogService/GetItem",
      "POST /api/v1/identity/register → /mel.identity.v1.IdentityService/Register",
      "POST /api/v1/identity/login → /mel.identity.v1.IdentityService/Login",
      "GET /api/v1/basket → /mel.basket.v1.BasketService/GetBasket",
      "POST /api/v1/basket/items → /mel.basket.v1.BasketService/AddItem",
      "POST /api/v1/basket/checkout → /mel.basket.v1.BasketService/Checkout",
      "GET /api/v1/orders → /mel.ordering.v1.OrderingService/ListOrders",
      "GET /api/v1/orders/{id} → /mel.ordering.v1.OrderingService/GetOrder",
    ];
    assert.deepEqual(
      fixed.filter((route) => !routes.has(route)),
      [],
    );
  });

  it("puts every route under /api/v1/", () => {
    assert.deepEqual(
      [...routes].filter((route) => !route.split(" ")[1]!.startsWith("/api/v1/")),
      [],
    );
  });

  it("returns access_token, refresh_token and expires_in from Login and Refresh", () => {
    for (const name of ["Login", "Refresh"]) {
      const output = catalog.methodsByPath.get(`/mel.identity.v1.IdentityService/${name}`)!.method.output;
      const fields = output.fields.map((field) => field.name);
      for (const required of ["access_token", "refresh_token", "expires_in"])
        assert.ok(fields.includes(required), `${name} returns ${output.typeName} without ${required}`);
    }
  });
});
