import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createServiceCatalog, readDescriptorSet } from "./descriptors.js";
import { createOpenApiDocument } from "./openapi.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
let document: any;
before(async () => {
  stack = await startTestStack();
  const response = await fetch(`${stack.url}/openapi.json`);
  assert.equal(response.status, 200);
  document = await response.json();
});
after(async () => {
  await stack.close();
});

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3 document", async () => {
    const result = await new Validator().validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.match(document.openapi, /^3\./);
  });

  it("has an operation for every HTTP binding, additional bindings included", () => {
    assert.ok(document.paths["/api/v1/catalog/items/{id}"].get);
    assert.ok(document.paths["/api/v1/catalog/items/{id}"].delete);
    assert.equal(document.paths["/api/v1/catalog/items:batchGet"].get.operationId, "CatalogService_GetItemsByIds");
    assert.equal(document.paths["/api/v1/catalog/items:batchGet"].post.operationId, "CatalogService_GetItemsByIds_2");
    assert.ok(document.paths["/api/v1/catalog/items/{item.id}"].patch);
    assert.ok(document.paths["/api/v1/catalog/items/{item.id}"].put);
    assert.ok(document.paths["/api/v1/orders/{id}:cancel"].post);
    assert.ok(document.paths["/v1/{note}"].get, "multi-segment variables become one parameter");
  });

  it("describes path and query parameters with their types", () => {
    const listItems = document.paths["/api/v1/catalog/items"].get;
    const parameter = (name: string) => listItems.parameters.find((p: { name: string }) => p.name === name);
    assert.deepEqual(parameter("pageSize"), {
      name: "pageSize",
      in: "query",
      required: false,
      schema: { type: "integer", format: "int32", description: "1 to 100; 0 means the default (20)." },
    });
    assert.deepEqual(parameter("sort").schema, { $ref: "#/components/schemas/mel.catalog.v1.ItemSort" });
    assert.deepEqual(document.components.schemas["mel.catalog.v1.ItemSort"].enum.slice(0, 2), ["ITEM_SORT_UNSPECIFIED", "ITEM_SORT_NAME_ASC"]);
    const echo = document.paths["/v1/probe/{id}"].get;
    assert.deepEqual(
      echo.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`),
      [
        "path:id",
        "query:filter.kind",
        "query:filter.minSize",
        "query:filter.labels",
        "query:filter.color",
        "query:numbers",
        "query:big",
        "query:flag",
        "query:color",
        "query:at",
        "query:mask",
        "query:ratio",
        "query:note",
      ],
    );
    assert.equal(echo.parameters.find((p: { name: string }) => p.name === "numbers").explode, true);
  });

  it("describes request bodies: the whole request less path fields, or the body field", () => {
    const cancel = document.paths["/api/v1/orders/{id}:cancel"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(Object.keys(cancel.properties), ["reason"]);
    const create = document.paths["/api/v1/catalog/items"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(create, { $ref: "#/components/schemas/mel.catalog.v1.CatalogItem" });
  });

  it("maps proto3 JSON types: int64 as string, Timestamp as date-time, FieldMask as string", () => {
    const schemas = document.components.schemas;
    assert.deepEqual(schemas["mel.common.v1.Money"].properties.amountMinor, {
      type: "string",
      format: "int64",
      description: "Amount in minor units; negative only for refunds and adjustments.",
    });
    assert.deepEqual(schemas["mel.catalog.v1.CatalogItem"].properties.createTime, { type: "string", format: "date-time" });
    assert.equal(schemas["mel.catalog.v1.UpdateItemRequest"], undefined, 'body "item" never needs the request schema');
    assert.equal(
      document.paths["/api/v1/catalog/items/{item.id}"].patch.parameters.find((p: { name: string }) => p.name === "updateMask").schema.type,
      "string",
    );
  });

  it("answers with response_body fields and ndjson for server streams", () => {
    const numbers = document.paths["/v1/probe/{id}:numbers"].get.responses["200"].content["application/json"].schema;
    assert.deepEqual(numbers, { type: "array", items: { type: "string", format: "int64" } });
    const watch = document.paths["/api/v1/orders/{id}:watch"].get.responses["200"].content["application/x-ndjson"].schema;
    assert.deepEqual(Object.keys(watch.properties), ["result", "error"]);
    assert.deepEqual(document.paths["/api/v1/orders/{id}"].get.responses.default.content["application/json"].schema, {
      $ref: "#/components/schemas/google.rpc.Status",
    });
  });
});

describe("OpenAPI descriptions", () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const scratch = mkdtempSync(join(tmpdir(), "mel-openapi-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it("come from proto comments when the descriptor set carries source info", async () => {
    const withSource = join(scratch, "with-source.binpb");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", "proto", "-o", withSource], { cwd: root });
    const catalog = createServiceCatalog(readDescriptorSet(withSource), ["mel.catalog.v1.CatalogService"]);
    const documented: any = createOpenApiDocument(catalog, { title: "t", version: "v1" });
    assert.match(documented.paths["/api/v1/catalog/items/{id}"].get.description, /Public: one item\./);
    assert.match(documented.components.schemas["mel.catalog.v1.CatalogItem"].properties.availableStock.description, /Units that can still be sold/);
    assert.match(documented.tags[0].description, /What the store sells/);
    const result = await new Validator().validate(documented);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });
});
