// What ordering needs of a payment provider. The default is the simulated
// gateway (simulated-payment-gateway.ts); a real provider plugs in by
// implementing this interface and being passed to startOrdering.
import type { MaskedPaymentMethod, Money } from "../order.js";

export interface PaymentAuthorizationRequest {
  /**
   * The order being paid; also the idempotency key: asking again for the same
   * order (after a crash between the gateway's answer and our commit) must
   * return the first answer, never charge twice.
   */
  orderId: string;
  amount: Money;
  paymentMethod: MaskedPaymentMethod;
}

export type PaymentAuthorization =
  | { outcome: "approved"; authorizationId: string }
  /** A final answer: the order is cancelled with `reason`. */
  | { outcome: "declined"; reason: string };

export interface PaymentGateway {
  /**
   * Authorises `amount` against the payment token. Resolves with the
   * gateway's answer; rejects only for a transient failure (unreachable,
   * timeout), which the payment step retries with back-off.
   */
  authorize(request: PaymentAuthorizationRequest): Promise<PaymentAuthorization>;
  /** Releases an authorisation the order no longer needs (it was cancelled while the gateway answered). */
  voidAuthorization(authorizationId: string, orderId: string): Promise<void>;
}
