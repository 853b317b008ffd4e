// OrderViewChanged → the order's copy in the read model. Ordering consumes its
// own event: the write side put it in the outbox in the transaction of the
// change, so every committed change reaches the read model, and only those.
// The copy is replaced only by a higher version (upsertOrderView), which makes
// the effect idempotent and indifferent to the order deliveries arrive in; the
// inbox (in ordering's SQL database, beside the effect) skips redeliveries
// before they reach MongoDB.
import type { OrderViewChanged } from "../../../gen/mel/events/v1/ordering_events.js";
import { type EventHandler, handleOnceBeside } from "../../../platform/events/index.js";
import type { Logger } from "../../../platform/log/index.js";
import type { AnyKysely } from "../../../platform/sql/index.js";
import { viewFromProto } from "../order-view.mapper.js";
import type { OrderReadModel } from "../order-view.model.js";
import { upsertOrderView } from "../order-view.repository.js";

export interface OrderViewProjectionDeps {
  /** Ordering's SQL database: its inbox. */
  db: AnyKysely;
  readModel: OrderReadModel;
  logger: Logger;
  now?: () => Date;
}

export const orderViewConsumer = "ordering.order-view";

/** Applies one OrderViewChanged to the read model, without the inbox (tests and the handler below). */
export async function projectOrderView(readModel: OrderReadModel, event: OrderViewChanged, now: Date) {
  if (event.order === undefined || event.order.id === "" || !Number.isInteger(event.version) || event.version < 1) {
    throw new Error(`OrderViewChanged without an order or a version (${event.order?.id ?? "no order"}, version ${event.version}); it cannot be projected`);
  }
  return upsertOrderView(readModel, viewFromProto(event.order, event.version, now));
}

export function createOrderViewChangedHandler({ db, readModel, logger, now = () => new Date() }: OrderViewProjectionDeps): EventHandler<OrderViewChanged> {
  return handleOnceBeside<OrderViewChanged>(
    db,
    orderViewConsumer,
    async (event, meta) => {
      const outcome = await projectOrderView(readModel, event, now());
      logger.debug({ orderId: event.order?.id, version: event.version, eventId: meta.eventId, outcome }, "order view projected");
    },
    logger,
  );
}
