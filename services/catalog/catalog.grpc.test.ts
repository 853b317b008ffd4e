// CatalogService over real gRPC on loopback, with the generated client, on a
// SQLite file seeded with the demo catalogue, and real RabbitMQ behind it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type CatalogItem, CatalogServiceClient, ItemSort, type ListItemsRequest } from "../../gen/mel/catalog/v1/catalog.js";
import { callUnary, type UnaryMethodName } from "../../platform/grpc/index.js";
import { BrokerProbe, ensureRabbitMq } from "../../test/support/rabbitmq.js";
import { createTestTokens, type TestTokens, testCatalogConfig } from "./catalog.test-support.js";
import { demoCatalogSize } from "./demo-catalog.js";
import { type RunningCatalog, startCatalog } from "./main.js";

const listRequest: ListItemsRequest = { pageSize: 0, pageToken: "", pageNumber: 0, brandId: "", typeId: "", query: "", sort: ItemSort.ITEM_SORT_UNSPECIFIED };

describe("CatalogService over gRPC", () => {
  let dir: string;
  let catalog: RunningCatalog;
  let client: CatalogServiceClient;
  let tokens: TestTokens;
  let admin: Metadata;
  let buyer: Metadata;
  let config: ReturnType<typeof testCatalogConfig>;

  before(async () => {
    await ensureRabbitMq();
    dir = mkdtempSync(join(tmpdir(), "mel-catalog-grpc-"));
    tokens = await createTestTokens();
    config = testCatalogConfig(`sqlite:${join(dir, "catalog.db")}`);
    catalog = await startCatalog({ config, authenticate: tokens.authenticate });
    client = new CatalogServiceClient(`127.0.0.1:${catalog.port}`, credentials.createInsecure());
    admin = await tokens.bearer("admin-1", ["admin"]);
    buyer = await tokens.bearer("buyer-1", ["buyer"]);
  });

  after(async () => {
    client?.close();
    await catalog?.stop();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(config.exchange.replace(/\.events$/, ""));
    await probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** For calls expected to fail: the request may be deliberately malformed. */
  function call(method: UnaryMethodName<CatalogServiceClient>, request: unknown, metadata?: Metadata): Promise<unknown> {
    return callUnary(client, method, request as never, metadata ? { metadata } : {});
  }

  async function rejects(promise: Promise<unknown>, code: status, pattern: RegExp): Promise<void> {
    await assert.rejects(promise, (error: ServiceError) => {
      assert.equal(error.code, code, `expected ${status[code]}, got ${status[error.code]}: ${error.details}`);
      assert.match(error.details, pattern);
      return true;
    });
  }

  async function createItem(overrides: Partial<CatalogItem> = {}): Promise<CatalogItem> {
    const [brands, types] = await Promise.all([callUnary(client, "listBrands", {}), callUnary(client, "listTypes", {})]);
    const response = await callUnary(
      client,
      "createItem",
      {
        item: {
          id: "",
          name: "Pote de Mel Teste",
          description: "Criado pelo teste",
          price: { currencyCode: "BRL", amountMinor: 2590 },
          priceVersion: 0,
          brandId: brands.brands[0]!.id,
          typeId: types.types[0]!.id,
          pictureUrl: "/pics/teste.webp",
          availableStock: 10,
          reservedStock: 0,
          restockThreshold: 2,
          maxStock: 20,
          brandName: "",
          typeName: "",
          ...overrides,
        },
      },
      { metadata: admin },
    );
    assert.ok(response.item);
    return response.item;
  }

  describe("public reads", () => {
    it("lists the seeded catalogue anonymously and pages to the end with the token", async () => {
      const ids: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await callUnary(client, "listItems", { ...listRequest, pageSize: 10, pageToken });
        assert.equal(page.totalCount, demoCatalogSize.items);
        ids.push(...page.items.map((item) => item.id));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "" && pages < 10);
      assert.equal(pages, Math.ceil(demoCatalogSize.items / 10));
      assert.equal(new Set(ids).size, demoCatalogSize.items);
    });

    it("returns an empty page, no token and a zero total when nothing matches", async () => {
      const page = await callUnary(client, "listItems", { ...listRequest, query: "nada-disso-existe" });
      assert.deepEqual(page, { items: [], nextPageToken: "", totalCount: 0 });
    });

    it("searches names case- and accent-insensitively and sorts by price", async () => {
      const page = await callUnary(client, "listItems", { ...listRequest, query: "CANECA", sort: ItemSort.ITEM_SORT_PRICE_DESC });
      assert.ok(page.items.length >= 3);
      assert.ok(page.items.every((item) => item.name.toLowerCase().includes("caneca")));
      const prices = page.items.map((item) => item.price!.amountMinor);
      assert.deepEqual(
        prices,
        [...prices].sort((a, b) => b - a),
      );
      const accents = await callUnary(client, "listItems", { ...listRequest, query: "proPOLIS" });
      assert.ok(accents.items.some((item) => item.name === "Mel com Própolis 280 g"));
    });

    it("filters by brand and fills brand and type names", async () => {
      const { brands } = await callUnary(client, "listBrands", {});
      const jatai = brands.find((brand) => brand.name === "Jataí");
      assert.ok(jatai);
      const page = await callUnary(client, "listItems", { ...listRequest, brandId: jatai.id, pageSize: 100 });
      assert.ok(page.items.length > 0);
      assert.ok(page.items.every((item) => item.brandId === jatai.id && item.brandName === "Jataí" && item.typeName !== ""));
    });

    it("pages by number", async () => {
      const second = await callUnary(client, "listItems", { ...listRequest, pageSize: 5, pageNumber: 2 });
      const first = await callUnary(client, "listItems", { ...listRequest, pageSize: 10 });
      assert.deepEqual(
        second.items.map((item) => item.id),
        first.items.slice(5, 10).map((item) => item.id),
      );
    });

    it("refuses bad paging and filter values naming the field", async () => {
      await rejects(call("listItems", { ...listRequest, pageSize: 101 }), status.INVALID_ARGUMENT, /^page_size: must be between 1 and 100/);
      await rejects(call("listItems", { ...listRequest, pageToken: "garbage" }), status.INVALID_ARGUMENT, /^page_token: /);
      await rejects(call("listItems", { ...listRequest, pageToken: "x", pageNumber: 2 }), status.INVALID_ARGUMENT, /^page_token: give either/);
      await rejects(call("listItems", { ...listRequest, pageNumber: -1 }), status.INVALID_ARGUMENT, /^page_number: /);
      await rejects(call("listItems", { ...listRequest, brandId: "no-such-brand" }), status.INVALID_ARGUMENT, /^brand_id: no brand has id "no-such-brand"/);
      await rejects(call("listItems", { ...listRequest, typeId: "no-such-type" }), status.INVALID_ARGUMENT, /^type_id: /);
      await rejects(call("listItems", { ...listRequest, sort: 42 as ItemSort }), status.INVALID_ARGUMENT, /^sort: /);
    });

    it("refuses a token replayed with another filter", async () => {
      const page = await callUnary(client, "listItems", { ...listRequest, pageSize: 2 });
      assert.notEqual(page.nextPageToken, "");
      await rejects(
        call("listItems", { ...listRequest, pageSize: 2, pageToken: page.nextPageToken, query: "mel" }),
        status.INVALID_ARGUMENT,
        /^page_token: was issued for a different filter or sort/,
      );
    });

    it("gets one item, and NOT_FOUND or INVALID_ARGUMENT for a bad id", async () => {
      const first = (await callUnary(client, "listItems", { ...listRequest, pageSize: 1 })).items[0]!;
      const { item } = await callUnary(client, "getItem", { id: first.id });
      assert.deepEqual(item, first);
      await rejects(call("getItem", { id: "no-such-item" }), status.NOT_FOUND, /no-such-item/);
      await rejects(call("getItem", { id: "" }), status.INVALID_ARGUMENT, /^id: is required/);
    });

    it("gets many items in one call and lists the missing ids", async () => {
      const page = await callUnary(client, "listItems", { ...listRequest, pageSize: 3 });
      const ids = page.items.map((item) => item.id);
      const response = await callUnary(client, "getItemsByIds", { ids: [ids[2]!, "missing-1", ids[0]!, ids[1]!, ids[0]!] });
      assert.deepEqual(
        response.items.map((item) => item.id),
        [ids[2], ids[0], ids[1]],
      );
      assert.deepEqual(response.missingIds, ["missing-1"]);
      await rejects(call("getItemsByIds", { ids: Array.from({ length: 101 }, (_, i) => `id-${i}`) }), status.INVALID_ARGUMENT, /^ids: at most 100/);
      await rejects(call("getItemsByIds", { ids: ["ok", ""] }), status.INVALID_ARGUMENT, /^ids\[1\]: is required/);
    });

    it("lists brands and types", async () => {
      assert.equal((await callUnary(client, "listBrands", {})).brands.length, demoCatalogSize.brands);
      assert.equal((await callUnary(client, "listTypes", {})).types.length, demoCatalogSize.types);
    });
  });

  describe("access to admin writes", () => {
    it("refuses an anonymous write with UNAUTHENTICATED", async () => {
      await rejects(call("deleteItem", { id: "x" }), status.UNAUTHENTICATED, /bearer token/);
      await rejects(call("adjustStock", { id: "x", delta: 1, reason: "" }), status.UNAUTHENTICATED, /bearer token/);
    });

    it("refuses a signed-in buyer with PERMISSION_DENIED", async () => {
      await rejects(call("createItem", { item: undefined }, buyer), status.PERMISSION_DENIED, /"admin" role/);
      await rejects(call("updateItem", { item: undefined, updateMask: [] }, buyer), status.PERMISSION_DENIED, /"admin" role/);
    });

    it("refuses a forged token with UNAUTHENTICATED but still serves public reads", async () => {
      const forged = new Metadata();
      forged.set("authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
      await rejects(call("deleteItem", { id: "x" }, forged), status.UNAUTHENTICATED, /^the access token must be signed with ES256 or RS256$/);
      assert.equal((await callUnary(client, "listBrands", {}, { metadata: forged })).brands.length, demoCatalogSize.brands);
    });
  });

  describe("admin writes", () => {
    it("creates an item and reads it back", async () => {
      const created = await createItem({ name: "  Mel de Teste Criado  " });
      assert.match(created.id, /^[0-9a-f-]{36}$/);
      assert.equal(created.name, "Mel de Teste Criado");
      assert.deepEqual([created.availableStock, created.reservedStock, created.maxStock], [10, 0, 20]);
      assert.ok(created.createTime instanceof Date);
      const { item } = await callUnary(client, "getItem", { id: created.id });
      assert.deepEqual(item, created);
    });

    it("refuses invalid items naming the field", async () => {
      await rejects(createItem({ name: "" }), status.INVALID_ARGUMENT, /^item\.name: must not be empty/);
      await rejects(createItem({ price: { currencyCode: "real", amountMinor: 100 } }), status.INVALID_ARGUMENT, /^item\.price\.currency_code: /);
      await rejects(createItem({ price: undefined }), status.INVALID_ARGUMENT, /^item\.price\./);
      await rejects(createItem({ brandId: "no-such-brand" }), status.INVALID_ARGUMENT, /^item\.brand_id: no brand has id/);
      await rejects(createItem({ availableStock: 21 }), status.INVALID_ARGUMENT, /^item\.available_stock: must be between 0 and max_stock 20/);
      await rejects(call("createItem", { item: undefined }, admin), status.INVALID_ARGUMENT, /^item: is required/);
    });

    it("updates only the fields in the mask", async () => {
      const created = await createItem();
      const { item } = await callUnary(
        client,
        "updateItem",
        { item: { ...created, name: "ignored", description: "Nova descrição" }, updateMask: ["description"] },
        { metadata: admin },
      );
      assert.equal(item?.description, "Nova descrição");
      assert.equal(item?.name, created.name);
      assert.ok(item!.updateTime!.getTime() >= created.updateTime!.getTime());
    });

    it("refuses unknown mask paths, missing items and a max_stock below the stock held", async () => {
      const created = await createItem();
      await rejects(call("updateItem", { item: created, updateMask: ["colour"] }, admin), status.INVALID_ARGUMENT, /^update_mask: unknown path "colour"/);
      await rejects(call("updateItem", { item: created, updateMask: ["available_stock"] }, admin), status.INVALID_ARGUMENT, /AdjustStock/);
      await rejects(call("updateItem", { item: { ...created, id: "no-such-item" }, updateMask: ["name"] }, admin), status.NOT_FOUND, /no-such-item/);
      await rejects(call("updateItem", { item: { ...created, id: "" }, updateMask: ["name"] }, admin), status.INVALID_ARGUMENT, /^item\.id: is required/);
      await rejects(
        call("updateItem", { item: { ...created, maxStock: 9 }, updateMask: ["max_stock"] }, admin),
        status.FAILED_PRECONDITION,
        /holds 10 units.*max_stock 9/,
      );
    });

    it("adjusts stock within 0 and max_stock and explains refusals with the numbers", async () => {
      const created = await createItem();
      const added = await callUnary(client, "adjustStock", { id: created.id, delta: 5, reason: "reposição" }, { metadata: admin });
      assert.equal(added.item?.availableStock, 15);
      await rejects(
        call("adjustStock", { id: created.id, delta: -16, reason: "" }, admin),
        status.FAILED_PRECONDITION,
        /15 available units; removing 16 would leave -1/,
      );
      await rejects(call("adjustStock", { id: created.id, delta: 6, reason: "" }, admin), status.FAILED_PRECONDITION, /would make 21, above max_stock 20/);
      await rejects(call("adjustStock", { id: created.id, delta: 0, reason: "" }, admin), status.INVALID_ARGUMENT, /^delta: /);
      await rejects(call("adjustStock", { id: "no-such-item", delta: 1, reason: "" }, admin), status.NOT_FOUND, /no-such-item/);
      const removed = await callUnary(client, "adjustStock", { id: created.id, delta: -15, reason: "inventário" }, { metadata: admin });
      assert.equal(removed.item?.availableStock, 0);
    });

    it("deletes an item, after which it is not found", async () => {
      const created = await createItem();
      await callUnary(client, "deleteItem", { id: created.id }, { metadata: admin });
      await rejects(call("getItem", { id: created.id }), status.NOT_FOUND, /not found/);
      await rejects(call("deleteItem", { id: created.id }, admin), status.NOT_FOUND, /not found/);
    });
  });
});
