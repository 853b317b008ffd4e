// HTTP/JSON transcoding over real HTTP: a gateway on loopback in front of real
// gRPC servers (the fixture upstreams and the echoing probe service).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { waitUntil } from "../test/support/wait.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
before(async () => {
  stack = await startTestStack();
});
after(async () => {
  await stack.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(stack.url + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === "" ? undefined : JSON.parse(text) };
}

/** The EchoRequest the probe service received, as the gateway rendered it back. */
async function echoed(method: string, path: string, body?: unknown): Promise<any> {
  const { status, json } = await call(method, path, body);
  assert.equal(status, 200, JSON.stringify(json));
  return json.request;
}

describe("responses in proto3 JSON", () => {
  it("uses lowerCamelCase names, int64 as strings, RFC 3339 timestamps and emits default values", async () => {
    const { status, headers, json } = await call("GET", "/api/v1/catalog/items/item-1");
    assert.equal(status, 200);
    assert.match(headers.get("content-type")!, /^application\/json/);
    assert.equal(json.item.id, "item-1");
    assert.deepEqual(json.item.price, { currencyCode: "BRL", amountMinor: "1234" });
    assert.equal(json.item.availableStock, 7);
    assert.equal(json.item.reservedStock, 0);
    assert.equal(json.item.pictureUrl, "");
    assert.equal(json.item.createTime, "2024-01-02T03:04:05Z");
  });

  it("writes enums by name", async () => {
    const { json } = await call("GET", "/api/v1/orders/o-1");
    assert.equal(json.order.status, "ORDER_STATUS_SUBMITTED");
  });

  it("passes upstream response metadata on as Grpc-Metadata-* headers", async () => {
    const { headers } = await call("GET", "/api/v1/catalog/items/item-1");
    assert.equal(headers.get("grpc-metadata-x-served-by"), "catalog-fixture");
  });
});

describe("query parameters", () => {
  it("fill scalar, enum (by name or number), bool, int64, double and well-known-type fields", async () => {
    const request = await echoed("GET", "/v1/probe/p1?big=9007199254740991&flag=true&color=COLOR_RED&ratio=1.5&at=2024-05-06T07:08:09Z&mask=name,filter.kind");
    assert.equal(request.big, "9007199254740991", "the largest int64 the services' generated code holds arrives exact");
    assert.equal(request.flag, true);
    assert.equal(request.color, "COLOR_RED");
    assert.equal(request.ratio, 1.5);
    assert.equal(request.at, "2024-05-06T07:08:09Z");
    assert.equal(request.mask, "name,filter.kind");
    assert.equal((await echoed("GET", "/v1/probe/p1?color=2")).color, "COLOR_GREEN");
  });

  it("fill repeated fields from repeated keys", async () => {
    const request = await echoed("GET", "/v1/probe/p1?numbers=1&numbers=2&numbers=-3");
    assert.deepEqual(request.numbers, ["1", "2", "-3"]);
  });

  it("fill nested fields with dotted names, in JSON or original proto spelling", async () => {
    const request = await echoed("GET", "/v1/probe/p1?filter.kind=mugs&filter.min_size=3&filter.labels=a&filter.labels=b&filter.color=COLOR_GREEN");
    assert.deepEqual(request.filter, { kind: "mugs", minSize: 3, labels: ["a", "b"], color: "COLOR_GREEN" });
  });

  it("map onto the store's own requests (ListItems paging, sorting and filters)", async () => {
    const { status, json } = await call("GET", "/api/v1/catalog/items?pageSize=3&sort=ITEM_SORT_NAME_DESC&brandId=brand-2&query=pl");
    assert.equal(status, 200);
    assert.deepEqual(
      json.items.map((item: { id: string }) => item.id),
      ["item-2"],
    );
    assert.equal(json.nextPageToken, "size=3;sort=2;query=pl");
  });
});

describe("path templates", () => {
  it('bind a nested field ({item.id}) alongside body: "item" and a FieldMask from the query', async () => {
    const { status, json } = await call("PATCH", "/api/v1/catalog/items/item-1?updateMask=name", { name: "Big mug" });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.item.id, "item-1");
    assert.equal(json.item.name, "Big mug");
    assert.equal(json.item.description, "mask=name");
  });

  it("bind nested and top-level variables in one template", async () => {
    const request = await echoed("GET", "/v1/probe/kinds/cups/items/i-9");
    assert.equal(request.id, "i-9");
    assert.equal(request.filter.kind, "cups");
  });

  it("bind a multi-segment variable", async () => {
    assert.equal((await echoed("GET", "/v1/files/2024/may/report.pdf")).note, "files/2024/may/report.pdf");
  });

  it("route custom verbs to their own RPC, not to the plain template", async () => {
    const cancelled = await call("POST", "/api/v1/orders/o-7:cancel", { reason: "changed my mind" });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.json.order.status, "ORDER_STATUS_CANCELLED");
    assert.equal(cancelled.json.order.statusHistory[0].reason, "changed my mind");
    assert.equal(stack.upstreams.lastCall("/mel.ordering.v1.OrderingService/CancelOrder")?.path, "/mel.ordering.v1.OrderingService/CancelOrder");
    const plain = await call("GET", "/api/v1/orders/o-7");
    assert.equal(plain.json.order.id, "o-7");
  });

  it("decode percent-encoded path values", async () => {
    assert.equal((await echoed("GET", "/v1/probe/a%2Fb%20c")).id, "a/b c");
  });
});

describe("request bodies", () => {
  it('body "*" takes the whole request, and the path wins over a body field of the same name', async () => {
    const request = await echoed("POST", "/v1/probe/from-path", { id: "from-body", note: "hi", filter: { kind: "k", min_size: 2 } });
    assert.equal(request.id, "from-path");
    assert.equal(request.note, "hi");
    assert.deepEqual(request.filter, { kind: "k", minSize: 2, labels: [], color: "COLOR_UNSPECIFIED" });
  });

  it('body "*" with an empty body sends a request with only the path fields', async () => {
    const response = await fetch(`${stack.url}/v1/probe/bare`, { method: "POST" });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as any).request.id, "bare");
  });

  it('body "field" fills that field, other fields come from the path and query', async () => {
    const request = await echoed("PUT", "/v1/probe/p1/filter?note=from-query", { kind: "plates", labels: ["x"] });
    assert.equal(request.id, "p1");
    assert.equal(request.note, "from-query");
    assert.deepEqual(request.filter.labels, ["x"]);
    assert.equal(request.filter.kind, "plates");
  });

  it('body "item" on CreateItem carries the item', async () => {
    const { status, json } = await call("POST", "/api/v1/catalog/items", {
      name: "Teapot",
      price: { currencyCode: "BRL", amountMinor: "4990" },
      availableStock: 3,
    });
    assert.equal(status, 200);
    assert.equal(json.item.id, "item-new");
    assert.equal(json.item.name, "Teapot");
    assert.equal(json.item.price.amountMinor, "4990");
  });

  it("is read as JSON whatever text type the client declared (curl -d sends form encoding)", async () => {
    const response = await fetch(`${stack.url}/api/v1/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ email: "ana@example.com", password: "correct horse" }),
    });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as any).tokenType, "Bearer");
  });
});

describe("additional_bindings", () => {
  it("serve GetItemsByIds by GET with repeated ids and by POST with a body", async () => {
    const byGet = await call("GET", "/api/v1/catalog/items:batchGet?ids=item-1&ids=nope");
    assert.deepEqual(
      byGet.json.items.map((item: { id: string }) => item.id),
      ["item-1"],
    );
    assert.deepEqual(byGet.json.missingIds, ["nope"]);
    const byPost = await call("POST", "/api/v1/catalog/items:batchGet", { ids: ["item-2"] });
    assert.deepEqual(
      byPost.json.items.map((item: { id: string }) => item.id),
      ["item-2"],
    );
  });

  it("serve UpdateItem by PUT as well as PATCH", async () => {
    const { status, json } = await call("PUT", "/api/v1/catalog/items/item-2", { name: "Round plate" });
    assert.equal(status, 200);
    assert.equal(json.item.name, "Round plate");
  });
});

describe("response_body", () => {
  it("answers with one message field of the response", async () => {
    const { json } = await call("GET", "/v1/probe/p5:request?note=n");
    assert.equal(json.id, "p5");
    assert.equal(json.note, "n");
    assert.equal(json.servedBy, undefined);
  });

  it("answers with a repeated scalar field as a bare JSON array", async () => {
    const { json } = await call("GET", "/v1/probe/p5:numbers?numbers=4&numbers=5");
    assert.deepEqual(json, ["4", "5"]);
  });
});

describe("server streaming as newline-delimited JSON", () => {
  async function lines(path: string): Promise<{ status: number; contentType: string | null; lines: any[] }> {
    const response = await fetch(stack.url + path);
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      lines: text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line)),
    };
  }

  it('writes one {"result": …} line per message', async () => {
    const { status, contentType, lines: received } = await lines("/api/v1/orders/o-1:watch");
    assert.equal(status, 200);
    assert.match(contentType!, /^application\/x-ndjson/);
    assert.deepEqual(
      received.map((line) => line.result.order.status),
      ["ORDER_STATUS_SUBMITTED", "ORDER_STATUS_PAID", "ORDER_STATUS_SHIPPED"],
    );
  });

  it('ends with an {"error": …} line when the stream fails midway', async () => {
    const { status, lines: received } = await lines("/api/v1/orders/fail-midway:watch");
    assert.equal(status, 200);
    assert.equal(received.length, 2);
    assert.equal(received[0].result.order.status, "ORDER_STATUS_SUBMITTED");
    assert.deepEqual(received[1], { error: { code: 10, message: "order changed concurrently", details: [] } });
  });

  it("maps a failure before the first message to the HTTP status", async () => {
    const { status, lines: received } = await lines("/api/v1/orders/status-NOT_FOUND:watch");
    assert.equal(status, 404);
    assert.deepEqual(received, [{ error: { code: 5, message: "forced NOT_FOUND", details: [] } }]);
  });

  it("cancels the upstream unary call when the HTTP client goes away before the answer", async () => {
    const aborter = new AbortController();
    const getItem = "/mel.catalog.v1.CatalogService/GetItem";
    const before = stack.upstreams.count(getItem);
    const answered = fetch(`${stack.url}/api/v1/catalog/items/hold-unary`, { signal: aborter.signal }).catch((error: unknown) => error);
    await waitUntil("the call to reach the upstream", () => stack.upstreams.count(getItem) > before);
    aborter.abort();
    assert.equal(((await answered) as Error).name, "AbortError");
    await waitUntil("the upstream to see the cancellation", () => stack.upstreams.cancelledCalls.includes("hold-unary"));
  });

  it("cancels the upstream stream when the HTTP client goes away", async () => {
    const aborter = new AbortController();
    const response = await fetch(`${stack.url}/api/v1/orders/hold-json:watch`, { signal: aborter.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /ORDER_STATUS_SUBMITTED/);
    aborter.abort();
    await waitUntil("the upstream to see the cancellation", () => stack.upstreams.cancelledStreams.includes("hold-json"));
  });
});
