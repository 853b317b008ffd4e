// Every CatalogService RPC with request fields, each bad input in turn:
// INVALID_ARGUMENT with reason FIELD_INVALID and a BadRequest naming the field
// (proto spelling, as in the request). ListBrands and ListTypes take no fields.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, type Metadata } from "@grpc/grpc-js";
import { type CatalogItem, CatalogServiceClient, ItemSort, type ListItemsRequest } from "../../gen/mel/catalog/v1/catalog.js";
import { callUnary, type UnaryMethodName } from "../../platform/grpc/index.js";
import { BrokerProbe, ensureRabbitMq } from "../../test/support/rabbitmq.js";
import { assertInvalidField } from "../../test/support/status-details.js";
import { createTestTokens, testCatalogConfig } from "./catalog.test-support.js";
import { type RunningCatalog, startCatalog } from "./main.js";

const list: ListItemsRequest = { pageSize: 0, pageToken: "", pageNumber: 0, brandId: "", typeId: "", query: "", sort: ItemSort.ITEM_SORT_UNSPECIFIED };
const goodItem: CatalogItem = {
  id: "",
  name: "Pote de Mel Teste",
  description: "",
  price: { currencyCode: "BRL", amountMinor: 2590 },
  priceVersion: 0,
  brandId: "set in before()",
  typeId: "set in before()",
  pictureUrl: "/pics/teste.webp",
  availableStock: 10,
  reservedStock: 0,
  restockThreshold: 2,
  maxStock: 20,
  brandName: "",
  typeName: "",
};

type Case = [method: UnaryMethodName<CatalogServiceClient>, field: string, request: () => unknown];

const cases: Case[] = [
  ["listItems", "page_size", () => ({ ...list, pageSize: 500 })],
  ["listItems", "page_number", () => ({ ...list, pageNumber: -1 })],
  ["listItems", "page_token", () => ({ ...list, pageToken: "not-a-token" })],
  ["listItems", "query", () => ({ ...list, query: "m".repeat(1000) })],
  ["listItems", "brand_id", () => ({ ...list, brandId: "no-such-brand" })],
  ["listItems", "type_id", () => ({ ...list, typeId: "no-such-type" })],
  ["getItem", "id", () => ({ id: "" })],
  ["getItemsByIds", "ids", () => ({ ids: Array.from({ length: 1000 }, (_, index) => `id-${index}`) })],
  ["createItem", "item", () => ({})],
  ["createItem", "item.name", () => ({ item: { ...goodItem, name: "" } })],
  ["createItem", "item.price.currency_code", () => ({ item: { ...goodItem, price: { currencyCode: "brl", amountMinor: 100 } } })],
  ["createItem", "item.price.amount_minor", () => ({ item: { ...goodItem, price: { currencyCode: "BRL", amountMinor: -5 } } })],
  ["createItem", "item.brand_id", () => ({ item: { ...goodItem, brandId: "" } })],
  ["createItem", "item.max_stock", () => ({ item: { ...goodItem, maxStock: 0 } })],
  ["createItem", "item.available_stock", () => ({ item: { ...goodItem, availableStock: 50 } })],
  ["createItem", "item.picture_url", () => ({ item: { ...goodItem, pictureUrl: "ftp://example.com/x.png" } })],
  ["updateItem", "item", () => ({ updateMask: ["name"] })],
  ["updateItem", "item.id", () => ({ item: { ...goodItem, id: "" }, updateMask: ["name"] })],
  ["updateItem", "update_mask", () => ({ item: { ...goodItem, id: "any" }, updateMask: ["available_stock"] })],
  ["deleteItem", "id", () => ({ id: "" })],
  ["adjustStock", "id", () => ({ id: "", delta: 1, reason: "" })],
  ["adjustStock", "delta", () => ({ id: "any", delta: 0, reason: "" })],
  ["adjustStock", "reason", () => ({ id: "any", delta: 1, reason: "r".repeat(201) })],
];

describe("CatalogService: each bad input names its field", () => {
  let dir: string;
  let catalog: RunningCatalog;
  let client: CatalogServiceClient;
  let admin: Metadata;
  let config: ReturnType<typeof testCatalogConfig>;

  before(async () => {
    await ensureRabbitMq();
    dir = mkdtempSync(join(tmpdir(), "mel-catalog-validation-"));
    const tokens = await createTestTokens();
    config = testCatalogConfig(`sqlite:${join(dir, "catalog.db")}`);
    catalog = await startCatalog({ config, authenticate: tokens.authenticate });
    client = new CatalogServiceClient(`127.0.0.1:${catalog.port}`, credentials.createInsecure());
    admin = await tokens.bearer("admin-1", ["admin"]);
    const [brands, types] = await Promise.all([callUnary(client, "listBrands", {}), callUnary(client, "listTypes", {})]);
    goodItem.brandId = brands.brands[0]?.id ?? "";
    goodItem.typeId = types.types[0]?.id ?? "";
  });

  after(async () => {
    client?.close();
    await catalog?.stop();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(config.exchange.replace(/\.events$/, ""));
    await probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [method, field, request] of cases) {
    it(`${method} with a bad ${field} answers INVALID_ARGUMENT naming ${field}`, async () => {
      await assertInvalidField(callUnary(client, method, request() as never, { metadata: admin }), field);
    });
  }
});
