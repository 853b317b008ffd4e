import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareTemplateSpecificity, matchPathTemplate, PathDecodeError, PathTemplateError, parsePathTemplate, splitRequestPath } from "./path-template.js";

const match = (template: string, path: string) => {
  const bindings = matchPathTemplate(parsePathTemplate(template), path);
  return bindings && Object.fromEntries(bindings);
};

describe("path templates", () => {
  it("matches a path split once against many templates, with and without verbs, as it matches the path itself", () => {
    const templates = [
      "/api/v1/orders/{id}",
      "/api/v1/orders/{id}:cancel",
      "/api/v1/orders/{id}:ship",
      "/api/v1/{name=shelves/*}/books/**",
      "/api/v1/catalog/items",
      "/{rest=**}",
    ].map(parsePathTemplate);
    const paths = [
      "/api/v1/orders/o%201",
      "/api/v1/orders/o1:cancel",
      "/api/v1/orders/o1:ship",
      "/api/v1/shelves/s1/books/a/b",
      "/api/v1/catalog/items",
      "/",
      "/:cancel",
      "nope",
    ];
    for (const path of paths) {
      const split = splitRequestPath(path);
      for (const template of templates) {
        const once = matchPathTemplate(template, split);
        const fresh = matchPathTemplate(template, path);
        assert.deepEqual(once && Object.fromEntries(once), fresh && Object.fromEntries(fresh), `${template.source} on ${path}`);
      }
    }
    assert.deepEqual(Object.fromEntries(matchPathTemplate(templates[1] as (typeof templates)[number], splitRequestPath("/api/v1/orders/o1:cancel")) ?? []), {
      id: "o1",
    });
  });

  it("binds a single-segment variable and percent-decodes it", () => {
    assert.deepEqual(match("/api/v1/catalog/items/{id}", "/api/v1/catalog/items/a%20b"), { id: "a b" });
  });

  it("binds nested field paths", () => {
    assert.deepEqual(match("/api/v1/catalog/items/{item.id}", "/api/v1/catalog/items/42"), { "item.id": "42" });
  });

  it("matches a verb only when the path ends with it, and strips it from the variable", () => {
    const template = "/api/v1/orders/{id}:cancel";
    assert.deepEqual(match(template, "/api/v1/orders/o-1:cancel"), { id: "o-1" });
    assert.equal(match(template, "/api/v1/orders/o-1"), undefined);
    assert.equal(match(template, "/api/v1/orders/o-1:ship"), undefined);
    assert.deepEqual(match("/api/v1/catalog/items:batchGet", "/api/v1/catalog/items:batchGet"), {});
  });

  it("binds a multi-segment variable, keeping encoded slashes encoded", () => {
    assert.deepEqual(match("/v1/{name=shelves/*/books/**}", "/v1/shelves/s1/books/a/b%2Fc"), { name: "shelves/s1/books/a/b%2Fc" });
    assert.equal(match("/v1/{name=shelves/*}", "/v1/racks/s1"), undefined);
  });

  it("requires literal segments and segment counts to agree", () => {
    assert.equal(match("/api/v1/catalog/items/{id}", "/api/v1/catalog/items"), undefined);
    assert.equal(match("/api/v1/catalog/items/{id}", "/api/v1/catalog/items/1/2"), undefined);
    assert.equal(match("/api/v1/catalog/items/{id}", "/api/v1/catalog/things/1"), undefined);
    assert.equal(match("/api/v1/catalog/items/{id}", "/api/v1/catalog/items/"), undefined);
  });

  it("reports bad percent-encoding in a bound segment", () => {
    assert.throws(() => match("/items/{id}", "/items/%E0%A4%A"), PathDecodeError);
  });

  it("rejects malformed templates with the reason", () => {
    assert.throws(() => parsePathTemplate("items/{id}"), /must start with \//);
    assert.throws(() => parsePathTemplate("/items/{id"), /unclosed/);
    assert.throws(() => parsePathTemplate("/items/{1d}"), /bad field path/);
    assert.throws(() => parsePathTemplate("/a/**/b"), /\*\* must be the last segment/);
    assert.throws(() => parsePathTemplate("/items/x{id}"), PathTemplateError);
    assert.throws(() => parsePathTemplate("/items/{id}/{id}"), /bound twice/);
  });

  it("orders verb templates before plain ones and literals before variables", () => {
    const sorted = ["/api/v1/orders/{id}", "/api/v1/orders/{id}:cancel", "/api/v1/{rest=**}", "/api/v1/orders/mine"]
      .map(parsePathTemplate)
      .sort(compareTemplateSpecificity)
      .map((t) => t.source);
    assert.deepEqual(sorted, ["/api/v1/orders/{id}:cancel", "/api/v1/orders/mine", "/api/v1/orders/{id}", "/api/v1/{rest=**}"]);
  });
});
