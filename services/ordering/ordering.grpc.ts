// OrderingService over gRPC: validates each request, checks who may see or
// change the order, runs status changes through order-flow.ts (guarded, with
// their events in the same transaction), and lets typed errors become
// statuses in platform/grpc.
import type { Kysely } from "kysely";
import { OrderCancellationCause } from "../../gen/mel/events/v1/ordering_events.js";
import { OrderingServiceService, OrderStatus as ProtoOrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../../platform/errors/index.js";
import { type Authenticate, type CallContext, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import { type Order, orderLimits } from "./order.js";
import { orderToProto, statusFromProto } from "./order.mapper.js";
import { findOrder, listBuyerOrders, searchOrders } from "./order.repository.js";
import type { OrderingDatabase } from "./order.table.js";
import { changeOrderStatus, type OrderChanged } from "./order-flow.js";
import type { OrderNotifier } from "./order-notifier.js";
import { checkPageSize, decodePageToken, encodePageToken } from "./order-page-token.js";
import type { StepTimings } from "./order-step.js";
import { watchOrderChanges } from "./order-watch.js";
import { createVoucherMethods } from "./voucher.grpc.js";

export interface OrderingServiceDeps {
  db: Kysely<OrderingDatabase>;
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

/** One more than the page size was read: the extra order says another page exists, and the page's last order is where it starts. */
function pageOf(orders: readonly Order[], pageSize: number) {
  const page = orders.slice(0, pageSize);
  const last = page.at(-1);
  return {
    orders: page.map(orderToProto),
    nextPageToken: orders.length > pageSize && last ? encodePageToken({ createTime: last.createTime.toISOString(), id: last.id }) : "",
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
  const { db, authenticate, logger, notifier, timings, orderChanged, now = () => new Date() } = deps;

  /** The order if the caller may see it: its buyer, or an admin. */
  async function visibleOrder(id: string, ctx: CallContext): Promise<Order> {
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
        return pageOf(await listBuyerOrders(db, callerOf(ctx).id, pageSize + 1, cursor), pageSize);
      },

      async searchOrders(request) {
        const status = requireSearchStatus(request.status);
        const pageSize = checkPageSize(request.pageSize);
        const cursor = decodePageToken(request.pageToken, "SearchOrders");
        return pageOf(await searchOrders(db, status, pageSize + 1, cursor), pageSize);
      },

      async getOrder(request, ctx) {
        return { order: orderToProto(await visibleOrder(requireOrderId(request.id), ctx)) };
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
