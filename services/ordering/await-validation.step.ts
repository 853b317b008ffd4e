// The "await-validation" step: the grace period after checkout is over, so
// the order moves to AWAITING_VALIDATION and asks catalog to reserve its
// stock (OrderStatusChangedToAwaitingValidation, in the same transaction).
import { IllegalTransitionError } from "./order.js";
import { clearStep } from "./order.repository.js";
import { changeOrderStatus, type OrderFlowDeps } from "./order-flow.js";
import type { StepHandler } from "./order-step-runner.js";

export function createAwaitValidationStep({ db, logger, timings, orderChanged, now = () => new Date() }: OrderFlowDeps): StepHandler {
  return async (orderId) => {
    try {
      await db.transaction().execute((trx) => changeOrderStatus(trx, orderId, "AWAITING_VALIDATION", { now: now(), timings }));
      logger.info({ orderId }, "grace period over; order awaits stock validation");
    } catch (error) {
      if (!(error instanceof IllegalTransitionError)) throw error;
      // The order moved on (the buyer cancelled it) while the step waited.
      await clearStep(db, orderId, "await-validation");
      logger.info({ orderId, status: error.current }, "order no longer awaits its grace period; step dropped");
    }
    orderChanged(orderId);
  };
}
