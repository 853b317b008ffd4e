import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { encodePageToken, type ItemListRequest, parseItemListRequest } from "./item-query.js";

const base: ItemListRequest = { pageSize: 0, pageToken: "", pageNumber: 0, brandId: "", typeId: "", query: "", order: "name_asc" };

function rejectsField(request: Partial<ItemListRequest>, field: string, pattern?: RegExp): void {
  assert.throws(
    () => parseItemListRequest({ ...base, ...request }),
    (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
      assert.equal(error.field, field);
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
  );
}

describe("parseItemListRequest", () => {
  it("defaults the page size to 20 and starts at the first page", () => {
    const query = parseItemListRequest(base);
    assert.equal(query.pageSize, 20);
    assert.deepEqual(query.start, { kind: "first" });
    assert.equal(query.brandId, undefined);
  });

  it("rejects page sizes outside 0..100 naming page_size", () => {
    rejectsField({ pageSize: 101 }, "page_size", /between 1 and 100/);
    rejectsField({ pageSize: -1 }, "page_size");
  });

  it("rejects a negative page number and a page number together with a token", () => {
    rejectsField({ pageNumber: -2 }, "page_number");
    rejectsField({ pageNumber: 2, pageToken: "abc" }, "page_token", /not both/);
  });

  it("turns a page number into an offset", () => {
    assert.deepEqual(parseItemListRequest({ ...base, pageSize: 10, pageNumber: 3 }).start, { kind: "offset", offset: 20 });
  });

  it("refuses page numbers that reach past the offset limit", () => {
    rejectsField({ pageSize: 100, pageNumber: 200 }, "page_number", /page_token/);
  });

  it("normalises the query for accent- and case-insensitive search", () => {
    assert.equal(parseItemListRequest({ ...base, query: "  CANECA Térmica " }).nameContains, "caneca termica");
    assert.equal(parseItemListRequest({ ...base, query: "   " }).nameContains, undefined);
  });

  it("rejects an overlong query", () => {
    rejectsField({ query: "x".repeat(101) }, "query");
  });
});

describe("page tokens", () => {
  it("round-trip the cursor for the same filter and sort", () => {
    const query = parseItemListRequest({ ...base, brandId: "b1", order: "price_desc" });
    const token = encodePageToken(query, { key: 1990, id: "item-7" });
    const next = parseItemListRequest({ ...base, brandId: "b1", order: "price_desc", pageToken: token });
    assert.deepEqual(next.start, { kind: "after", key: 1990, id: "item-7" });
  });

  it("are refused when garbled", () => {
    rejectsField({ pageToken: "not-a-token" }, "page_token", /next_page_token/);
    rejectsField({ pageToken: Buffer.from('{"v":1}').toString("base64url") }, "page_token");
    rejectsField({ pageToken: "%%%" }, "page_token");
  });

  it("are refused when replayed with another filter or sort", () => {
    const token = encodePageToken(parseItemListRequest({ ...base, typeId: "t1" }), { key: "caneca", id: "x" });
    rejectsField({ typeId: "t2", pageToken: token }, "page_token", /different filter or sort/);
    rejectsField({ typeId: "t1", order: "name_desc", pageToken: token }, "page_token", /different filter or sort/);
  });
});
