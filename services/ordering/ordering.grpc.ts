// OrderingService over gRPC: validates each request, checks who may see or
// change the order, runs status changes through order-flow.ts (guarded, with
// their events in the same transaction), answers queries from the order read
// model (order-reads.ts), and lets typed errors become statuses in platform/grpc.
import type { Kysely } from "kysely";
import { OrderCancellationCause } from "../../gen/mel/events/v1/ordering_events.js";
import { OrderingServiceService, OrderStatus as ProtoOrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../../platform/errors/index.js";
import { type Authenticate, type CallContext, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import { orderLimits } from "./order.js";
import { orderToProto, statusFromProto } from "./order.mapper.js";
import { findOrder } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { changeOrderStatus, type OrderChanged } from "./order-flow.js";
import type { OrderNotifier } from "./order-notifier.js";
import { checkPageSize, decodePageToken, encodePageToken } from "./order-page-token.js";
import { readCurrentOrder, readSourceHeader, salesPerDay } from "./order-reads.js";
import type { StepTimings } from "./order-step.js";
import { viewToProto } from "./order-view.mapper.js";
import type { OrderReadModel, OrderViewDocument } from "./order-view.model.js";
import { findOrderViews, type OrderViewFilter } from "./order-view.repository.js";
import { watchOrderChanges } from "./order-watch.js";
import { createVoucherMethods } from "./voucher.grpc.js";

export interface OrderingServiceDeps {
  db: Kysely<OrderingDatabase>;
  /** The order read model: what the queries answer from. */
  readModel: OrderReadModel;
  authenticate: Authenticate;
  logger: Logger;
  notifier: OrderNotifier;
  timings: StepTimings;
  orderChanged: OrderChanged;
  /** WatchOrder's fallback re-read for changes committed by other instances. Default 5000 ms. */
  watchPollIntervalMs?: number;
  now?: () => Date;
}

export const adminRole = "admin";

export const orderingPolicies: MethodPolicies<typeof OrderingServiceService> = {
  listOrders: "authenticated",
  searchOrders: { role: adminRole },
  getSalesPerDay: { role: adminRole },
  getOrder: "authenticated",
  cancelOrder: "authenticated",
  shipOrder: { role: adminRole },
  watchOrder: "authenticated",
  createVoucher: { role: adminRole },
  updateVoucher: { role: adminRole },
  deactivateVoucher: { role: adminRole },
  listVouchers: { role: adminRole },
  // Any signed-in buyer (basket asks on their behalf, with their token).
  checkVoucher: "authenticated",
};

const maxCancelReasonLength = 200;

function requireOrderId(id: string): string {
  if (id === "") throw new InvalidArgumentError("id", "is required: the order's id");
  if (id.length > orderLimits.idLength) throw new InvalidArgumentError("id", `must be at most ${orderLimits.idLength} characters (got ${id.length})`);
  return id;
}

/** The status SearchOrders filters on; undefined (any status) for UNSPECIFIED. */
function requireSearchStatus(status: ProtoOrderStatus) {
  if (status === ProtoOrderStatus.ORDER_STATUS_UNSPECIFIED) return undefined;
  const known = statusFromProto(status);
  if (known === undefined) throw new InvalidArgumentError("status", `must be an OrderStatus, or ORDER_STATUS_UNSPECIFIED for any status (got ${status})`);
  return known;
}

/** A buyer email to search by: undefined (any) for "". */
function optionalEmail(email: string): string | undefined {
  const trimmed = email.trim();
  if (trimmed === "") return undefined;
  if (trimmed.length > orderLimits.emailLength) {
    throw new InvalidArgumentError("buyer_email", `must be at most ${orderLimits.emailLength} characters (got ${trimmed.length})`);
  }
  return trimmed;
}

/** SearchOrders' filters; placed_until must come after placed_from when both are given. */
function searchFilter(request: { status: ProtoOrderStatus; buyerEmail: string; placedFrom?: Date | undefined; placedUntil?: Date | undefined }) {
  const filter: OrderViewFilter = {};
  const status = requireSearchStatus(request.status);
  if (status !== undefined) filter.status = status;
  const email = optionalEmail(request.buyerEmail);
  if (email !== undefined) filter.buyerEmail = email;
  if (request.placedFrom !== undefined) filter.placedFrom = request.placedFrom;
  if (request.placedUntil !== undefined) filter.placedUntil = request.placedUntil;
  if (request.placedFrom !== undefined && request.placedUntil !== undefined && request.placedUntil.getTime() <= request.placedFrom.getTime()) {
    throw new InvalidArgumentError(
      "placed_until",
      `must be after placed_from (${request.placedFrom.toISOString()}), got ${request.placedUntil.toISOString()}; leave it unset for no upper bound`,
    );
  }
  return filter;
}

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;
/** The longest range GetSalesPerDay answers for: a year, leap day included. */
export const maxSalesDays = 366;

/** A YYYY-MM-DD day that exists in the calendar. */
function requireDay(value: string, field: string): number {
  const time = dayPattern.test(value) ? Date.parse(`${value}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== value) {
    throw new InvalidArgumentError(field, `must be a day as YYYY-MM-DD, such as 2025-03-01 (got ${JSON.stringify(value.slice(0, 40))})`);
  }
  return time;
}

function requireSalesRange(fromDay: string, untilDay: string): { fromDay: string; untilDay: string } {
  const from = requireDay(fromDay, "from_day");
  const until = requireDay(untilDay, "until_day");
  if (until < from) throw new InvalidArgumentError("until_day", `must be from_day (${fromDay}) or a later day (got ${untilDay})`);
  const days = Math.round((until - from) / 86_400_000) + 1;
  if (days > maxSalesDays) throw new InvalidArgumentError("until_day", `must be at most ${maxSalesDays} days from from_day, both included (got ${days} days)`);
  return { fromDay, untilDay };
}

/** One more than the page size was read: the extra order says another page exists, and the page's last order is where it starts. */
function pageOf(views: readonly OrderViewDocument[], pageSize: number) {
  const page = views.slice(0, pageSize);
  const last = page.at(-1);
  return {
    orders: page.map(viewToProto),
    nextPageToken: views.length > pageSize && last ? encodePageToken({ createTime: last.createTime.toISOString(), id: last._id }) : "",
  };
}

function callerOf(ctx: CallContext) {
  // implementService has authenticated every non-public method before the handler runs.
  const principal = ctx.principal;
  if (principal === undefined) throw new Error(`${ctx.method} ran without an authenticated caller`);
  return { id: principal.subject, isAdmin: principal.roles.includes(adminRole) };
}

/** Someone else's order does not exist as far as the caller can tell (no leak of ids). */
function notFound(id: string): NotFoundError {
  return new NotFoundError(`order ${id} does not exist or is not yours`);
}

function traceOf(ctx: CallContext) {
  return { correlationId: ctx.correlationId, traceparent: ctx.traceparent };
}

export function createOrderingService(deps: OrderingServiceDeps) {
  const { db, readModel, authenticate, logger, notifier, timings, orderChanged, now = () => new Date() } = deps;
  const reads = { db, readModel, logger, now };

  /** The order on the write side if the caller may see it: its buyer, or an admin. */
  async function visibleOrder(id: string, ctx: CallContext) {
    const caller = callerOf(ctx);
    const order = await findOrder(db, id);
    if (order === undefined || (order.buyerId !== caller.id && !caller.isAdmin)) throw notFound(id);
    return order;
  }

  return implementService(
    OrderingServiceService,
    {
      async listOrders(request, ctx) {
        const pageSize = checkPageSize(request.pageSize);
        const cursor = decodePageToken(request.pageToken, "ListOrders");
        return pageOf(await findOrderViews(readModel, { buyerId: callerOf(ctx).id }, pageSize + 1, cursor), pageSize);
      },

      async searchOrders(request) {
        const filter = searchFilter(request);
        const pageSize = checkPageSize(request.pageSize);
        const cursor = decodePageToken(request.pageToken, "SearchOrders");
        return pageOf(await findOrderViews(readModel, filter, pageSize + 1, cursor), pageSize);
      },

      async getSalesPerDay(request) {
        const range = requireSalesRange(request.fromDay, request.untilDay);
        return { days: await salesPerDay(readModel, range.fromDay, range.untilDay) };
      },

      async getOrder(request, ctx) {
        const id = requireOrderId(request.id);
        const caller = callerOf(ctx);
        const read = await readCurrentOrder(reads, id);
        if (read === undefined || (read.order.buyerId !== caller.id && !caller.isAdmin)) throw notFound(id);
        ctx.setResponseHeader(readSourceHeader, read.source);
        return { order: read.order };
      },

      async cancelOrder(request, ctx) {
        const id = requireOrderId(request.id);
        const note = request.reason.trim();
        if (note.length > maxCancelReasonLength) {
          throw new InvalidArgumentError("reason", `must be at most ${maxCancelReasonLength} characters (got ${note.length})`);
        }
        const caller = callerOf(ctx);
        const { transition } = await db.transaction().execute((trx) =>
          changeOrderStatus(trx, id, "CANCELLED", {
            now: now(),
            timings,
            reason: note === "" ? "cancelled by the buyer" : `cancelled by the buyer: ${note}`,
            cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER,
            trace: traceOf(ctx),
            check: (order) => {
              if (order.buyerId === caller.id) return;
              if (caller.isAdmin) throw new PermissionDeniedError(`only the buyer may cancel order ${id}`);
              throw notFound(id);
            },
          }),
        );
        orderChanged(id);
        ctx.log.info({ orderId: id, from: transition.from }, "order cancelled by the buyer");
        return { order: orderToProto(transition.order) };
      },

      async shipOrder(request, ctx) {
        const id = requireOrderId(request.id);
        const { transition } = await db.transaction().execute((trx) => changeOrderStatus(trx, id, "SHIPPED", { now: now(), timings, trace: traceOf(ctx) }));
        orderChanged(id);
        ctx.log.info({ orderId: id, by: callerOf(ctx).id }, "order shipped");
        return { order: orderToProto(transition.order) };
      },

      async *watchOrder(request, ctx) {
        const first = await visibleOrder(requireOrderId(request.id), ctx);
        const watchDeps = { db, notifier, ...(deps.watchPollIntervalMs !== undefined ? { pollIntervalMs: deps.watchPollIntervalMs } : {}) };
        for await (const order of watchOrderChanges(watchDeps, first, ctx.signal)) yield { order: orderToProto(order) };
      },

      ...createVoucherMethods({ db, now }),
    },
    { policies: orderingPolicies, authenticate, logger },
  );
}
