// The "authorize-payment" step: once stock is confirmed, ask the payment
// gateway, then apply its answer to the order directly (no round trip
// through the broker): approved → PAID with OrderPaymentSucceeded, declined →
// CANCELLED with OrderPaymentFailed, each written to the outbox in the same
// transaction as the status change and its OrderStatusChangedTo… event. The
// payment events are published for other consumers; ordering does not
// consume them itself.
//
// The gateway is called outside any transaction (it may be slow). If the
// process dies after the gateway answered but before the commit, the step's
// lease runs out and it runs again: the gateway is idempotent by order id, so
// the second answer is the first.
import { OrderCancellationCause, OrderPaymentFailed, OrderPaymentSucceeded } from "../../../gen/mel/events/v1/ordering_events.js";
import { addToOutbox } from "../../../platform/events/index.js";
import { traceStep } from "../../../platform/telemetry/index.js";
import { IllegalTransitionError } from "../order.js";
import { clearStep, findOrder, findOrderRecord, type OrderRecord } from "../order.repository.js";
import { changeOrderStatus, type OrderFlowDeps } from "../order-flow.js";
import type { StepHandler } from "../order-step-runner.js";
import type { PaymentAuthorization, PaymentGateway } from "./payment-gateway.js";

export interface AuthorizePaymentDeps extends OrderFlowDeps {
  gateway: PaymentGateway;
  /** After this many failed calls (not declines) the payment counts as failed. Default 8. */
  maxAttempts?: number;
}

export function createAuthorizePaymentStep(deps: AuthorizePaymentDeps): StepHandler {
  const { db, logger, timings, orderChanged, gateway, now = () => new Date() } = deps;
  const maxAttempts = deps.maxAttempts ?? 8;

  const run = async (orderId: string, record: OrderRecord | undefined) => {
    if (record === undefined || record.order.status !== "STOCK_CONFIRMED") {
      await clearStep(db, orderId, "authorize-payment");
      logger.info({ orderId, status: record?.order.status }, "order no longer awaits payment; step dropped");
      return;
    }
    const { order } = record;
    let answer: PaymentAuthorization;
    try {
      answer = await gateway.authorize({ orderId, amount: order.total, paymentMethod: order.paymentMethod });
    } catch (error) {
      const attempts = record.step?.attempts ?? 1;
      if (attempts < maxAttempts) throw error;
      const message = error instanceof Error ? error.message : String(error);
      answer = { outcome: "declined", reason: `payment could not be authorised: the payment gateway failed ${attempts} times (last: ${message})` };
    }

    try {
      await db.transaction().execute(async (trx) => {
        if (answer.outcome === "approved") {
          const { authorizationId } = answer;
          await changeOrderStatus(trx, orderId, "PAID", {
            now: now(),
            timings,
            authorizationId,
            announce: (inner, _paid, trace) => addToOutbox(inner, OrderPaymentSucceeded, { orderId, authorizationId }, trace).then(() => undefined),
          });
        } else {
          const { reason } = answer;
          await changeOrderStatus(trx, orderId, "CANCELLED", {
            now: now(),
            timings,
            reason,
            cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED,
            announce: (inner, _cancelled, trace) => addToOutbox(inner, OrderPaymentFailed, { orderId, reason }, trace).then(() => undefined),
          });
        }
      });
      logger.info(
        { orderId, outcome: answer.outcome, last4: order.paymentMethod.last4 },
        answer.outcome === "approved" ? "payment authorised; order paid" : "payment declined; order cancelled",
      );
    } catch (error) {
      if (!(error instanceof IllegalTransitionError)) throw error;
      // The buyer cancelled while the gateway answered: give back an
      // authorisation nobody will capture (unless it is the one a paid order holds).
      const current = await findOrder(db, orderId);
      if (answer.outcome === "approved" && current?.status === "CANCELLED") {
        await gateway.voidAuthorization(answer.authorizationId, orderId);
        logger.info({ orderId }, "order cancelled during payment; authorisation voided");
      }
      await clearStep(db, orderId, "authorize-payment");
    }
    orderChanged(orderId);
  };

  return async (orderId) => {
    const record = await findOrderRecord(db, orderId);
    // Runs after the checkout's request ended: its span continues the trace the order was placed in.
    await traceStep("ordering authorize-payment", record?.trace.traceparent, { "mel.order.id": orderId }, () => run(orderId, record));
  };
}
