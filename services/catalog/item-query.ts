// What a ListItems request asks for, checked, and the opaque page token that
// carries a cursor from one page to the next. No I/O.
//
// The token holds the sort key and id of the last item shown (keyset paging),
// so pages stay stable while items are added or removed, plus a fingerprint of
// the filter and sort it was made for: a token replayed with another filter is
// refused instead of silently skipping or repeating items.
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { nameSearchKey } from "./item.js";

export type ItemOrder = "name_asc" | "name_desc" | "price_asc" | "price_desc";

/** Where a page starts: after this (sort key, id), or at this offset. */
export type ItemPageStart = { kind: "first" } | { kind: "after"; key: string | number; id: string } | { kind: "offset"; offset: number };

export interface ItemListQuery {
  pageSize: number;
  start: ItemPageStart;
  brandId?: string;
  typeId?: string;
  /** Already reduced with nameSearchKey. */
  nameContains?: string;
  order: ItemOrder;
}

export interface ItemListRequest {
  pageSize: number;
  pageToken: string;
  pageNumber: number;
  brandId: string;
  typeId: string;
  query: string;
  order: ItemOrder;
}

export const listLimits = {
  defaultPageSize: 20,
  maxPageSize: 100,
  queryLength: 100,
  /** Deep offsets are slow on every engine; past this, page with the token. */
  maxOffset: 10_000,
} as const;

export function parseItemListRequest(request: ItemListRequest): ItemListQuery {
  const { pageSize: requestedSize, pageToken, pageNumber } = request;
  if (!Number.isInteger(requestedSize) || requestedSize < 0 || requestedSize > listLimits.maxPageSize) {
    throw new InvalidArgumentError(
      "page_size",
      `must be between 1 and ${listLimits.maxPageSize}, or 0 for the default ${listLimits.defaultPageSize} (got ${requestedSize})`,
    );
  }
  const pageSize = requestedSize === 0 ? listLimits.defaultPageSize : requestedSize;
  if (!Number.isInteger(pageNumber) || pageNumber < 0) {
    throw new InvalidArgumentError("page_number", `must be 1 or more, or 0 when unused (got ${pageNumber})`);
  }
  if (pageToken !== "" && pageNumber !== 0) {
    throw new InvalidArgumentError("page_token", "give either page_token or page_number, not both");
  }
  if (request.query.length > listLimits.queryLength) {
    throw new InvalidArgumentError("query", `must be at most ${listLimits.queryLength} characters (got ${request.query.length})`);
  }
  const nameContains = nameSearchKey(request.query);
  const query: ItemListQuery = {
    pageSize,
    start: { kind: "first" },
    order: request.order,
    ...(request.brandId !== "" && { brandId: request.brandId }),
    ...(request.typeId !== "" && { typeId: request.typeId }),
    ...(nameContains !== "" && { nameContains }),
  };
  if (pageNumber > 0) {
    const offset = (pageNumber - 1) * pageSize;
    if (offset > listLimits.maxOffset) {
      throw new InvalidArgumentError("page_number", `page ${pageNumber} of ${pageSize} starts past item ${listLimits.maxOffset}; use page_token to go further`);
    }
    query.start = { kind: "offset", offset };
  } else if (pageToken !== "") {
    query.start = decodePageToken(pageToken, query);
  }
  return query;
}

interface PageTokenBody {
  /** Format version, so a future change can still read or cleanly refuse old tokens. */
  v: 1;
  /** Fingerprint of the filter and sort. */
  f: string;
  k: string | number;
  id: string;
}

export function encodePageToken(query: ItemListQuery, last: { key: string | number; id: string }): string {
  const body: PageTokenBody = { v: 1, f: fingerprint(query), k: last.key, id: last.id };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

function decodePageToken(token: string, query: ItemListQuery): ItemPageStart {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw new InvalidArgumentError("page_token", "is not a token this service issued; pass next_page_token from the previous response unchanged");
  }
  if (!isPageTokenBody(body)) {
    throw new InvalidArgumentError("page_token", "is not a token this service issued; pass next_page_token from the previous response unchanged");
  }
  if (body.f !== fingerprint(query)) {
    throw new InvalidArgumentError(
      "page_token",
      "was issued for a different filter or sort; repeat brand_id, type_id, query and sort unchanged, or start again without a token",
    );
  }
  const keyIsNumber = query.order === "price_asc" || query.order === "price_desc";
  if (keyIsNumber !== (typeof body.k === "number")) {
    throw new InvalidArgumentError("page_token", "does not match the requested sort; start again without a token");
  }
  return { kind: "after", key: body.k, id: body.id };
}

function isPageTokenBody(value: unknown): value is PageTokenBody {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  return (
    body.v === 1 &&
    typeof body.f === "string" &&
    typeof body.id === "string" &&
    body.id !== "" &&
    (typeof body.k === "string" || (typeof body.k === "number" && Number.isSafeInteger(body.k)))
  );
}

function fingerprint(query: ItemListQuery): string {
  const parts = [query.order, query.brandId ?? "", query.typeId ?? "", query.nameContains ?? ""];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 16);
}
