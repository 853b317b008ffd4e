// CatalogService over gRPC: validates each request, maps proto ↔ domain, runs
// the repository in a transaction where a write needs one, and lets typed
// errors become statuses in platform/grpc.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { CatalogServiceService } from "../../gen/mel/catalog/v1/catalog.js";
import { ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import { AbortedError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../platform/errors/index.js";
import { addToOutbox, type OutboxRelay } from "../../platform/events/index.js";
import { type Authenticate, type CallContext, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import {
  applyItemUpdate,
  checkMaxStockHoldsStock,
  checkStockAdjustment,
  type Item,
  type ItemDraft,
  resolveUpdateMask,
  samePrice,
  validateItemDraft,
  validateStockDelta,
} from "./item.js";
import { itemToProto, protoToDraft, sortToOrder } from "./item.mapper.js";
import {
  adjustAvailableStock,
  brandExists,
  deleteUnreservedItem,
  findItem,
  findItemsByIds,
  insertItem,
  itemSortKey,
  listBrands,
  listItems,
  listTypes,
  typeExists,
  updateItem,
} from "./item.repository.js";
import type { CatalogDatabase } from "./item.table.js";
import { encodePageToken, parseItemListRequest } from "./item-query.js";

export interface CatalogServiceDeps {
  db: Kysely<CatalogDatabase>;
  authenticate: Authenticate;
  /** Woken after a commit that wrote to the outbox, so the event goes out at once. */
  relay: Pick<OutboxRelay, "notify">;
  logger: Logger;
  now?: () => Date;
}

export const catalogPolicies: MethodPolicies<typeof CatalogServiceService> = {
  listItems: "public",
  getItem: "public",
  getItemsByIds: "public",
  listBrands: "public",
  listTypes: "public",
  createItem: { role: "admin" },
  updateItem: { role: "admin" },
  deleteItem: { role: "admin" },
  adjustStock: { role: "admin" },
};

export const maxBatchIds = 100;
/** Optimistic retries of UpdateItem when a concurrent price change wins the race. */
const updateAttempts = 3;

/** The CatalogService implementation for GrpcServer.addService(CatalogServiceService, …). */
export function createCatalogService({ db, authenticate, relay, logger, now = () => new Date() }: CatalogServiceDeps) {
  return implementService(
    CatalogServiceService,
    {
      async listItems(request) {
        const query = parseItemListRequest({
          pageSize: request.pageSize,
          pageToken: request.pageToken,
          pageNumber: request.pageNumber,
          brandId: request.brandId,
          typeId: request.typeId,
          query: request.query,
          order: sortToOrder(request.sort),
        });
        if (query.brandId !== undefined && !(await brandExists(db, query.brandId))) {
          throw new InvalidArgumentError("brand_id", `no brand has id "${query.brandId}"; ListBrands gives the valid ids`);
        }
        if (query.typeId !== undefined && !(await typeExists(db, query.typeId))) {
          throw new InvalidArgumentError("type_id", `no item type has id "${query.typeId}"; ListTypes gives the valid ids`);
        }
        const page = await listItems(db, query);
        const last = page.items.at(-1);
        return {
          items: page.items.map(itemToProto),
          nextPageToken: page.hasMore && last ? encodePageToken(query, { key: itemSortKey(last, query.order), id: last.id }) : "",
          totalCount: page.totalCount,
        };
      },

      async getItem(request) {
        requireId(request.id, "id");
        return { item: itemToProto(await getExistingItem(db, request.id)) };
      },

      async getItemsByIds(request) {
        if (request.ids.length > maxBatchIds) {
          throw new InvalidArgumentError("ids", `at most ${maxBatchIds} ids per call (got ${request.ids.length})`);
        }
        for (const [index, id] of request.ids.entries()) requireId(id, `ids[${index}]`);
        const ids = [...new Set(request.ids)];
        const found = new Map((await findItemsByIds(db, ids)).map((item) => [item.id, item]));
        return {
          items: ids.flatMap((id) => {
            const item = found.get(id);
            return item === undefined ? [] : [itemToProto(item)];
          }),
          missingIds: ids.filter((id) => !found.has(id)),
        };
      },

      async listBrands() {
        return { brands: await listBrands(db) };
      },

      async listTypes() {
        return { types: await listTypes(db) };
      },

      async createItem(request, ctx) {
        if (!request.item) throw new InvalidArgumentError("item", "is required");
        const draft = protoToDraft(request.item);
        validateItemDraft(draft);
        const { availableStock } = request.item;
        if (!Number.isInteger(availableStock) || availableStock < 0 || availableStock > draft.maxStock) {
          throw new InvalidArgumentError("item.available_stock", `must be between 0 and max_stock ${draft.maxStock} (got ${availableStock})`);
        }
        const id = randomUUID();
        const item = await db.transaction().execute(async (trx) => {
          await requireBrandAndType(trx, draft);
          await insertItem(trx, id, draft, availableStock, now());
          return getExistingItem(trx, id);
        });
        ctx.log.info({ itemId: id, by: subjectOf(ctx) }, "catalog item created");
        return { item: itemToProto(item) };
      },

      async updateItem(request, ctx) {
        if (!request.item) throw new InvalidArgumentError("item", "is required");
        requireId(request.item.id, "item.id");
        const fields = resolveUpdateMask(request.updateMask);
        const patch = protoToDraft(request.item);
        const id = request.item.id;
        for (let attempt = 1; attempt <= updateAttempts; attempt++) {
          const result = await db.transaction().execute(async (trx) => {
            const current = await getExistingItem(trx, id);
            const draft = applyItemUpdate(current, patch, fields);
            validateItemDraft(draft);
            if (draft.brandId !== current.brandId || draft.typeId !== current.typeId) await requireBrandAndType(trx, draft);
            checkMaxStockHoldsStock(current, draft.maxStock);
            // Guarded by the price and version read above, so the event's old price is
            // the one replaced and its version the one the update gave the new price.
            if (!(await updateItem(trx, id, draft, now(), current))) return { kind: "raced" as const, current };
            if (!samePrice(current.price, draft.price)) {
              await addToOutbox(
                trx,
                ProductPriceChanged,
                { productId: id, oldPrice: current.price, newPrice: draft.price, priceVersion: current.priceVersion + 1 },
                { correlationId: ctx.correlationId, traceparent: ctx.traceparent },
              );
            }
            return { kind: "updated" as const, item: await getExistingItem(trx, id), priceChanged: !samePrice(current.price, draft.price) };
          });
          if (result.kind === "updated") {
            if (result.priceChanged) relay.notify();
            ctx.log.info({ itemId: id, fields: [...fields], by: subjectOf(ctx) }, "catalog item updated");
            return { item: itemToProto(result.item) };
          }
          await explainFailedUpdate(db, id, result.current, patch, fields);
        }
        throw new AbortedError(`catalog item ${id} kept changing while it was being updated; try again`);
      },

      async deleteItem(request, ctx) {
        requireId(request.id, "id");
        if (!(await deleteUnreservedItem(db, request.id))) {
          const item = await getExistingItem(db, request.id);
          throw new FailedPreconditionError(
            `catalog item ${item.id} has ${item.reservedStock} units reserved for orders; delete it once they are paid or cancelled`,
          );
        }
        ctx.log.info({ itemId: request.id, by: subjectOf(ctx) }, "catalog item deleted");
        return {};
      },

      async adjustStock(request, ctx) {
        requireId(request.id, "id");
        validateStockDelta(request.delta);
        if (request.reason.length > 200) {
          throw new InvalidArgumentError("reason", `must be at most 200 characters (got ${request.reason.length})`);
        }
        if (!(await adjustAvailableStock(db, request.id, request.delta, now()))) {
          const item = await getExistingItem(db, request.id);
          checkStockAdjustment(item, request.delta);
          // The guard failed but the numbers read now allow it: stock moved in between.
          throw new AbortedError(`stock of catalog item ${item.id} changed during the adjustment; try again`);
        }
        const item = await getExistingItem(db, request.id);
        ctx.log.info(
          { itemId: item.id, delta: request.delta, reason: request.reason, availableStock: item.availableStock, by: subjectOf(ctx) },
          "catalog stock adjusted",
        );
        return { item: itemToProto(item) };
      },
    },
    { policies: catalogPolicies, authenticate, logger },
  );
}

function requireId(id: string, field: string): void {
  if (id === "") throw new InvalidArgumentError(field, "is required");
  if (id.length > 100) throw new InvalidArgumentError(field, `must be at most 100 characters (got ${id.length})`);
}

async function getExistingItem(db: Kysely<CatalogDatabase>, id: string): Promise<Item> {
  const item = await findItem(db, id);
  if (!item) throw new NotFoundError(`catalog item ${id} not found`);
  return item;
}

async function requireBrandAndType(db: Kysely<CatalogDatabase>, draft: ItemDraft): Promise<void> {
  if (!(await brandExists(db, draft.brandId))) {
    throw new InvalidArgumentError("item.brand_id", `no brand has id "${draft.brandId}"; ListBrands gives the valid ids`);
  }
  if (!(await typeExists(db, draft.typeId))) {
    throw new InvalidArgumentError("item.type_id", `no item type has id "${draft.typeId}"; ListTypes gives the valid ids`);
  }
}

/**
 * The guarded UPDATE touched nothing: the item is gone (NOT_FOUND), or its
 * stock outgrew the new max_stock (FAILED_PRECONDITION). A changed price
 * (or price version) returns normally so the caller retries against it.
 */
async function explainFailedUpdate(
  db: Kysely<CatalogDatabase>,
  id: string,
  before: Item,
  patch: ItemDraft,
  fields: ReturnType<typeof resolveUpdateMask>,
): Promise<void> {
  const latest = await getExistingItem(db, id);
  if (!samePrice(latest.price, before.price) || latest.priceVersion !== before.priceVersion) return;
  checkMaxStockHoldsStock(latest, applyItemUpdate(latest, patch, fields).maxStock);
}

function subjectOf(ctx: CallContext): string | undefined {
  return ctx.principal?.subject;
}
