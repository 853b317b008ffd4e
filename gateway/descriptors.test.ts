import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message } from "@bufbuild/protobuf";
import { create, createFileRegistry, setExtension } from "@bufbuild/protobuf";
import type { GenExtension } from "@bufbuild/protobuf/codegenv2";
import type { MethodOptions } from "@bufbuild/protobuf/wkt";
import { createServiceCatalog, DescriptorError, readDescriptorSet } from "./descriptors.js";
import { descriptorPath } from "./testing/test-stack.js";

const storeServices = ["mel.identity.v1.IdentityService", "mel.catalog.v1.CatalogService", "mel.basket.v1.BasketService", "mel.ordering.v1.OrderingService"];

describe("the service catalog", () => {
  it("exposes every RPC of the store's services over gRPC-Web and every annotated one over HTTP", () => {
    const catalog = createServiceCatalog(readDescriptorSet(descriptorPath), storeServices);
    const rpcCount = catalog.services.reduce((sum, service) => sum + service.methods.length, 0);
    assert.equal(catalog.methodsByPath.size, rpcCount);
    assert.ok(catalog.methodsByPath.has("/mel.ordering.v1.OrderingService/WatchOrder"));
    const routes = catalog.bindings.map((b) => `${b.httpMethod} ${b.template.source}`);
    assert.ok(routes.includes("GET /api/v1/catalog/items:batchGet"));
    assert.ok(routes.includes("POST /api/v1/catalog/items:batchGet"), "additional bindings become routes");
    assert.ok(routes.includes("PUT /api/v1/catalog/items/{item.id}"));
    assert.ok(routes.indexOf("POST /api/v1/orders/{id}:cancel") < routes.indexOf("GET /api/v1/orders/{id}"), "verb routes are tried first");
  });

  it("exposes only the services it is given", () => {
    const catalog = createServiceCatalog(readDescriptorSet(descriptorPath), ["mel.catalog.v1.CatalogService"]);
    assert.ok(catalog.bindings.every((b) => b.target.service.typeName === "mel.catalog.v1.CatalogService"));
    assert.equal(catalog.methodsByPath.has("/mel.identity.v1.IdentityService/Login"), false);
  });

  it("refuses a service missing from the descriptor set", () => {
    assert.throws(
      () => createServiceCatalog(readDescriptorSet(descriptorPath), ["mel.nothing.v1.NoService"]),
      /mel\.nothing\.v1\.NoService is not in the descriptor set/,
    );
  });

  // Rewrites the google.api.http option of CatalogService.GetItem in a fresh copy of the set.
  function withGetItemRule(rule: Record<string, unknown>) {
    const set = readDescriptorSet(descriptorPath);
    const registry = createFileRegistry(set);
    const httpRule = registry.getExtension("google.api.http")!;
    const file = set.file.find((f) => f.name === "mel/catalog/v1/catalog.proto")!;
    const method = file.service[0]!.method.find((m) => m.name === "GetItem")!;
    const options = method.options!;
    options.$unknown = [];
    setExtension(options, httpRule as GenExtension<MethodOptions, Message>, create(registry.getMessage("google.api.HttpRule")!, rule as never));
    return set;
  }

  it("refuses annotations that name fields the messages lack, at start-up", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ pattern: { case: "get", value: "/items/{item_id}" } }, /path variable \{item_id\} is not a field of mel\.catalog\.v1\.GetItemRequest/],
      [{ pattern: { case: "post", value: "/items/{id}" }, body: "payload" }, /body "payload" is not a field/],
      [{ pattern: { case: "get", value: "/items/{id}" }, responseBody: "items" }, /response_body "items" is not a field/],
      [{ pattern: { case: "get", value: "/items/{id}" }, body: "*" }, /a GET rule cannot have a body/],
      [{ pattern: { case: "get", value: "items/{id}" } }, /must start with \//],
      [{ pattern: { case: undefined } }, /no HTTP method/],
    ];
    for (const [rule, message] of cases) {
      assert.throws(
        () => createServiceCatalog(withGetItemRule(rule), ["mel.catalog.v1.CatalogService"]),
        (error: unknown) => error instanceof DescriptorError && message.test(error.message),
      );
    }
  });

  it("accepts custom HTTP methods", () => {
    const catalog = createServiceCatalog(withGetItemRule({ pattern: { case: "custom", value: { kind: "PATCH", path: "/items/{id}/touch" } } }), [
      "mel.catalog.v1.CatalogService",
    ]);
    assert.ok(catalog.bindings.some((b) => b.httpMethod === "PATCH" && b.template.source === "/items/{id}/touch"));
  });
});
