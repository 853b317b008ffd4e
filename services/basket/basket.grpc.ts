// BasketService over gRPC: the buyer is always the token's subject (no request
// names a basket), every change re-prices the lines against the catalog and is
// written with optimistic concurrency, and Checkout records the order's event
// in the basket document itself. Typed errors become statuses in platform/grpc.
import { randomUUID } from "node:crypto";
import { BasketServiceService } from "../../gen/mel/basket/v1/basket.js";
import type { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { FailedPreconditionError, UnauthenticatedError } from "../../platform/errors/index.js";
import { encodeEvent } from "../../platform/events/index.js";
import { type Authenticate, type CallContext, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import { activeTraceparent } from "../../platform/telemetry/index.js";
import {
  addUnits,
  type Basket,
  type BasketLimits,
  type BasketLine,
  basketTotal,
  priceLines,
  removeLine,
  replaceLines,
  setLineQuantity,
  validateProductId,
  validateQuantity,
} from "./basket.js";
import { basketToProto, checkoutToFields, documentToBasket, fieldsToCheckout, fieldsToLine, lineToFields } from "./basket.mapper.js";
import type { BasketDb, OutboxEntryFields } from "./basket.model.js";
import { findBasketDocument, updateBasket } from "./basket.repository.js";
import type { BasketOutboxRelay } from "./basket-outbox-relay.js";
import { changeBasketLines, lostRace, retryOnConflict, type WriteRetry } from "./basket-update.js";
import { createPriceLookup, type PriceLookup } from "./catalog-prices.js";
import {
  type CheckoutRecord,
  type CheckoutRetention,
  defaultCheckoutRetention,
  findCheckout,
  pruneCheckouts,
  validateAddress,
  validateRequestId,
} from "./checkout.js";
import { maskCard, validateCard } from "./payment-card.js";

export interface BasketServiceDeps {
  db: BasketDb;
  catalog: CatalogServiceClient;
  authenticate: Authenticate;
  logger: Logger;
  /** Woken after a checkout so its event is published at once. */
  relay: Pick<BasketOutboxRelay, "notify">;
  limits: BasketLimits;
  writeRetry: WriteRetry;
  /** HMAC key that turns card numbers into payment tokens (MEL_BASKET_PAYMENT_TOKEN_KEY). */
  paymentTokenKey: Uint8Array;
  checkoutRetention?: CheckoutRetention;
  now?: () => Date;
}

export const basketPolicies: MethodPolicies<typeof BasketServiceService> = {
  getBasket: "authenticated",
  addItem: "authenticated",
  setItems: "authenticated",
  updateItemQuantity: "authenticated",
  removeItem: "authenticated",
  deleteBasket: "authenticated",
  checkout: "authenticated",
};

/** The buyer is the verified caller; policies guarantee one, this keeps the type honest. */
function buyerOf(ctx: CallContext): string {
  if (!ctx.principal) throw new UnauthenticatedError("sign in to use your basket");
  return ctx.principal.subject;
}

function productIdsOf(lines: readonly BasketLine[]): string[] {
  return lines.map((line) => line.productId);
}

/** New lines priced against the catalog; `required` products must exist there. */
async function priced(lines: BasketLine[], prices: PriceLookup, required: Iterable<string>): Promise<BasketLine[]> {
  return priceLines(lines, await prices(productIdsOf(lines)), new Set(required));
}

/** The BasketService implementation for GrpcServer.addService(BasketServiceService, …). */
export function createBasketService(deps: BasketServiceDeps) {
  const { db, catalog, authenticate, logger, relay, limits, writeRetry, paymentTokenKey } = deps;
  const now = deps.now ?? (() => new Date());
  const retention = deps.checkoutRetention ?? defaultCheckoutRetention;

  function change(buyerId: string, what: string, apply: (basket: Basket) => Promise<BasketLine[] | undefined> | BasketLine[] | undefined): Promise<Basket> {
    return changeBasketLines(db, buyerId, what, apply, { retry: writeRetry, now });
  }

  return implementService(
    BasketServiceService,
    {
      async getBasket(_request, ctx) {
        const buyerId = buyerOf(ctx);
        return { basket: basketToProto(documentToBasket(await findBasketDocument(db, buyerId), buyerId)) };
      },

      async addItem(request, ctx) {
        const productId = validateProductId(request.productId, "product_id");
        validateQuantity(request.quantity, "quantity", limits);
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(buyerOf(ctx), "AddItem", (current) =>
          priced(addUnits(current.lines, productId, request.quantity, limits), prices, [productId]),
        );
        return { basket: basketToProto(basket) };
      },

      async setItems(request, ctx) {
        // Checked once up front, so a bad list fails before any read or catalog call.
        const wanted = replaceLines([], request.items, limits);
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(buyerOf(ctx), "SetItems", (current) =>
          priced(replaceLines(current.lines, request.items, limits), prices, productIdsOf(wanted)),
        );
        return { basket: basketToProto(basket) };
      },

      async updateItemQuantity(request, ctx) {
        const productId = validateProductId(request.productId, "product_id");
        validateQuantity(request.quantity, "quantity", limits);
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(buyerOf(ctx), "UpdateItemQuantity", (current) =>
          priced(setLineQuantity(current.lines, productId, request.quantity), prices, [productId]),
        );
        return { basket: basketToProto(basket) };
      },

      async removeItem(request, ctx) {
        const productId = validateProductId(request.productId, "product_id");
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(buyerOf(ctx), "RemoveItem", (current) => priced(removeLine(current.lines, productId), prices, []));
        return { basket: basketToProto(basket) };
      },

      async deleteBasket(_request, ctx) {
        await change(buyerOf(ctx), "DeleteBasket", (current) => (current.lines.length === 0 ? undefined : []));
        return {};
      },

      async checkout(request, ctx) {
        const buyerId = buyerOf(ctx);
        const requestId = validateRequestId(request.requestId);
        const address = validateAddress(request.address);
        const cardNumber = validateCard(request.card, now());
        // From here on only the masked method exists; the number and CVV stay in the request.
        const paymentMethod = maskCard(request.card!, cardNumber, paymentTokenKey);
        const prices = createPriceLookup(catalog, ctx);

        const outcome = await retryOnConflict("Checkout", writeRetry, async () => {
          const document = await findBasketDocument(db, buyerId);
          const checkouts = (document?.checkouts ?? []).map(fieldsToCheckout);
          const earlier = findCheckout(checkouts, requestId);
          if (earlier) return { record: earlier, repeated: true };
          if (!document || document.lines.length === 0) {
            throw new FailedPreconditionError("your basket is empty; add items with AddItem before checking out");
          }
          const current = document.lines.map(fieldsToLine);
          const lines = await priced(current, prices, productIdsOf(current));
          const total = basketTotal(lines)!;
          const acceptedAt = now();
          const record: CheckoutRecord = {
            requestId,
            orderId: randomUUID(),
            total,
            acceptedAt,
            lines: lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
          };
          const event: UserCheckoutAccepted = {
            buyerId,
            requestId,
            orderId: record.orderId,
            address,
            paymentMethod,
            lines: lines.map((line) => ({
              productId: line.productId,
              productName: line.productName,
              pictureUrl: line.pictureUrl,
              unitPrice: line.unitPrice,
              units: line.quantity,
            })),
            total,
            buyerEmail: ctx.principal?.email ?? "",
          };
          const entry: OutboxEntryFields = {
            eventId: randomUUID(),
            type: "UserCheckoutAccepted",
            payload: encodeEvent("UserCheckoutAccepted", event),
            correlationId: ctx.correlationId,
            // The Checkout span, so the relay's publish continues under it.
            traceparent: activeTraceparent() ?? ctx.traceparent ?? null,
            createdAt: acceptedAt,
            attempts: 0,
          };
          // One conditional single-document write: the repriced lines, the checkout record and the event to publish.
          const written = await updateBasket(
            db,
            buyerId,
            document.revision,
            {
              lines: lines.map(lineToFields),
              checkouts: pruneCheckouts([...checkouts, record], acceptedAt, retention).map(checkoutToFields),
              outbox: [...document.outbox, entry],
            },
            acceptedAt,
          );
          return written ? { record, repeated: false } : lostRace;
        });

        const { record, repeated } = outcome;
        if (repeated) {
          ctx.log.info({ requestId, orderId: record.orderId }, "checkout repeated: returning the first result");
        } else {
          relay.notify();
          ctx.log.info(
            { requestId, orderId: record.orderId, total: record.total, card: { brand: paymentMethod.cardBrand, last4: paymentMethod.last4 } },
            "checkout accepted",
          );
        }
        return { requestId, orderId: record.orderId, total: record.total, acceptTime: record.acceptedAt };
      },
    },
    { policies: basketPolicies, authenticate, logger },
  );
}
