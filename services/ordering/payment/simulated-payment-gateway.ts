// The simulated payment gateway: approves every card except one documented
// test card, so the whole order flow (including a declined payment) runs
// without a payment provider.
//
// The declined test card is 4000 0000 0000 0002. The simulator never sees a
// card number (basket keeps only the masked PaymentMethod: brand, last 4,
// expiry, holder, and payment_token = HMAC-SHA256 of the number under
// MEL_BASKET_PAYMENT_TOKEN_KEY), so it recognises the card by its last four digits,
// "0002": any card ending in 0002 is declined. Every other card is approved.
import { createHash } from "node:crypto";
import type { PaymentAuthorization, PaymentAuthorizationRequest, PaymentGateway } from "./payment-gateway.js";

export const declinedTestCard = {
  number: "4000 0000 0000 0002",
  last4: "0002",
  reason: "payment declined: the card was refused by the issuer (test card ending in 0002)",
} as const;

export interface SimulatedPaymentGateway extends PaymentGateway {
  /** Authorisations voided so far (tests look at them). */
  readonly voided: ReadonlySet<string>;
}

export function createSimulatedPaymentGateway(): SimulatedPaymentGateway {
  const voided = new Set<string>();
  return {
    voided,
    async authorize(request: PaymentAuthorizationRequest): Promise<PaymentAuthorization> {
      if (request.paymentMethod.last4 === declinedTestCard.last4) return { outcome: "declined", reason: declinedTestCard.reason };
      // Derived from the order id, as a real gateway's idempotency key would:
      // asking twice for one order yields the same authorisation.
      const authorizationId = `sim_${createHash("sha256").update(request.orderId).digest("hex").slice(0, 24)}`;
      return { outcome: "approved", authorizationId };
    },
    async voidAuthorization(authorizationId: string): Promise<void> {
      voided.add(authorizationId);
    },
  };
}
