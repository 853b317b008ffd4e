// ListOrders' and SearchOrders' page token: the (create_time, id) of the last order of the
// previous page, so the next page starts right after it however many orders
// arrive meanwhile (keyset paging, newest first). Opaque to callers.
import { InvalidArgumentError } from "../../platform/errors/index.js";
import type { OrderCursor } from "./order.repository.js";

export const defaultPageSize = 20;
export const maxPageSize = 100;

export function encodePageToken(cursor: OrderCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.createTime, i: cursor.id })).toString("base64url");
}

/** The cursor in `token`, a next_page_token of `method`; undefined for "" (the first page). */
export function decodePageToken(token: string, method: "ListOrders" | "SearchOrders"): OrderCursor | undefined {
  if (token === "") return undefined;
  const invalid = new InvalidArgumentError(
    "page_token",
    `is not a token from a previous ${method} response; send the next_page_token as received, or none for the first page`,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  const { t, i } = (parsed ?? {}) as { t?: unknown; i?: unknown };
  if (typeof t !== "string" || typeof i !== "string" || Number.isNaN(Date.parse(t)) || i === "") throw invalid;
  return { createTime: t, id: i };
}

/** page_size 0 means the default; 1 to 100 otherwise. */
export function checkPageSize(pageSize: number): number {
  if (pageSize === 0) return defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > maxPageSize) {
    throw new InvalidArgumentError("page_size", `must be 1 to ${maxPageSize}, or 0 for the default ${defaultPageSize} (got ${pageSize})`);
  }
  return pageSize;
}
