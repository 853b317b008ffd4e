// BasketService over gRPC: the buyer is always the token's subject (no request
// names a basket), every change re-prices the lines against the catalog and is
// written with optimistic concurrency, and Checkout records the order's event
// in the basket document itself. Typed errors become statuses in platform/grpc.
import { randomUUID } from "node:crypto";
import { BasketServiceService } from "../../gen/mel/basket/v1/basket.js";
import type { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import type { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import type { OrderingServiceClient } from "../../gen/mel/ordering/v1/ordering.js";
import { ErrorReason, FailedPreconditionError, UnauthenticatedError } from "../../platform/errors/index.js";
import { encodeEvent } from "../../platform/events/index.js";
import { type Authenticate, type CallContext, implementService, type MethodPolicies } from "../../platform/grpc/index.js";
import type { Logger } from "../../platform/log/index.js";
import { activeTraceparent } from "../../platform/telemetry/index.js";
import {
  addUnits,
  type Basket,
  type BasketLimits,
  type BasketLine,
  priceLines,
  removeCheckedOutUnits,
  removeLine,
  replaceLines,
  setLineQuantity,
  validateProductId,
  validateQuantity,
} from "./basket.js";
import { basketToProto, checkoutToFields, documentToBasket, fieldsToCheckout, fieldsToLine, fieldsToVoucher, lineToFields } from "./basket.mapper.js";
import type { BasketDb, OutboxEntryFields } from "./basket.model.js";
import { findBasketDocument, updateBasket } from "./basket.repository.js";
import type { BasketOutboxRelay } from "./basket-outbox-relay.js";
import { changeBasket, changeBasketLines, lostRace, recheckedVoucher, retryOnConflict, type WriteRetry } from "./basket-update.js";
import { basketTotals, validateVoucherCodeInput } from "./basket-voucher.js";
import { createPriceLookup, type PriceLookup } from "./catalog-prices.js";
import {
  type CheckoutRecord,
  type CheckoutRetention,
  defaultCheckoutRetention,
  findCheckout,
  newestAwaitingOrder,
  pruneCheckouts,
  refuseRejectedCheckout,
  unitsAwaitingOrder,
  validateAddress,
  validateRequestId,
} from "./checkout.js";
import { maskCard, validateCard } from "./payment-card.js";
import { createVoucherCheck } from "./voucher-check.js";

export interface BasketServiceDeps {
  db: BasketDb;
  catalog: CatalogServiceClient;
  /** Ordering, asked whether a voucher may be used (with the buyer's token). */
  ordering: OrderingServiceClient;
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
  applyVoucher: "authenticated",
  removeVoucher: "authenticated",
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
  const { db, catalog, ordering, authenticate, logger, relay, limits, writeRetry, paymentTokenKey } = deps;
  const now = deps.now ?? (() => new Date());
  const retention = deps.checkoutRetention ?? defaultCheckoutRetention;

  /** A change of the lines; the voucher is checked again with ordering on the way. */
  function change(ctx: CallContext, what: string, apply: (basket: Basket) => Promise<BasketLine[] | undefined> | BasketLine[] | undefined): Promise<Basket> {
    return changeBasketLines(db, buyerOf(ctx), what, apply, { retry: writeRetry, now, recheckVoucher: createVoucherCheck(ordering, ctx) });
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
        const basket = await change(ctx, "AddItem", (current) => priced(addUnits(current.lines, productId, request.quantity, limits), prices, [productId]));
        return { basket: basketToProto(basket) };
      },

      async setItems(request, ctx) {
        // Checked once up front, so a bad list fails before any read or catalog call.
        const wanted = replaceLines([], request.items, limits);
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(ctx, "SetItems", (current) => priced(replaceLines(current.lines, request.items, limits), prices, productIdsOf(wanted)));
        return { basket: basketToProto(basket) };
      },

      async updateItemQuantity(request, ctx) {
        const productId = validateProductId(request.productId, "product_id");
        validateQuantity(request.quantity, "quantity", limits);
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(ctx, "UpdateItemQuantity", (current) =>
          priced(setLineQuantity(current.lines, productId, request.quantity), prices, [productId]),
        );
        return { basket: basketToProto(basket) };
      },

      async removeItem(request, ctx) {
        const productId = validateProductId(request.productId, "product_id");
        const prices = createPriceLookup(catalog, ctx);
        const basket = await change(ctx, "RemoveItem", (current) => priced(removeLine(current.lines, productId), prices, []));
        return { basket: basketToProto(basket) };
      },

      async deleteBasket(_request, ctx) {
        await change(ctx, "DeleteBasket", (current) => (current.lines.length === 0 ? undefined : []));
        return {};
      },

      async applyVoucher(request, ctx) {
        const code = validateVoucherCodeInput(request.code);
        const verdict = await createVoucherCheck(ordering, ctx)(code);
        if (!verdict.usable) {
          throw new FailedPreconditionError(`${verdict.reason}; check the code, or try another`, {
            reason: ErrorReason.VOUCHER_UNUSABLE,
            metadata: { code: request.code },
          });
        }
        const basket = await changeBasket(db, buyerOf(ctx), "ApplyVoucher", () => ({ voucher: verdict.voucher, voucherRemovedReason: null }), {
          retry: writeRetry,
          now,
        });
        ctx.log.info({ voucher: verdict.voucher.code }, "voucher applied");
        return { basket: basketToProto(basket) };
      },

      async removeVoucher(_request, ctx) {
        const basket = await changeBasket(
          db,
          buyerOf(ctx),
          "RemoveVoucher",
          (current) =>
            current.voucher === undefined && current.voucherRemovedReason === undefined ? undefined : { voucher: null, voucherRemovedReason: null },
          { retry: writeRetry, now },
        );
        return { basket: basketToProto(basket) };
      },

      async checkout(request, ctx) {
        const buyerId = buyerOf(ctx);
        const requestId = validateRequestId(request.requestId);
        const address = validateAddress(request.address);
        const { card } = request;
        const cardNumber = validateCard(card, now());
        if (card === undefined) throw new Error("validateCard lets no missing card through");
        // From here on only the masked method exists; the number and CVV stay in the request.
        const paymentMethod = maskCard(card, cardNumber, paymentTokenKey);
        const prices = createPriceLookup(catalog, ctx);
        const checkVoucher = createVoucherCheck(ordering, ctx);

        const outcome = await retryOnConflict("Checkout", writeRetry, async () => {
          const document = await findBasketDocument(db, buyerId);
          const checkouts = (document?.checkouts ?? []).map(fieldsToCheckout);
          const earlier = findCheckout(checkouts, requestId);
          if (earlier) {
            refuseRejectedCheckout(earlier);
            return { record: earlier, outcome: "repeated" as const };
          }
          if (!document || document.lines.length === 0) {
            throw new FailedPreconditionError("your basket is empty; add items with AddItem before checking out", { reason: ErrorReason.BASKET_EMPTY });
          }
          const current = document.lines.map(fieldsToLine);
          // Units an earlier checkout holds until its order starts are not ordered again.
          const held = unitsAwaitingOrder(checkouts);
          if (removeCheckedOutUnits(current, held).length === 0) {
            const awaiting = newestAwaitingOrder(checkouts);
            if (awaiting) return { record: awaiting, outcome: "awaiting" as const };
          }
          // A voucher ordering no longer accepts is removed, and the buyer sees the new total before ordering.
          let voucher = document.voucher ? fieldsToVoucher(document.voucher) : undefined;
          if (voucher !== undefined) {
            const rechecked = await recheckedVoucher(voucher, checkVoucher);
            if (rechecked.voucher === null) {
              const reason = rechecked.voucherRemovedReason ?? "";
              const removed = await updateBasket(db, buyerId, document.revision, { voucher: null, voucherRemovedReason: reason }, now());
              return removed ? { outcome: "voucher removed" as const, reason, code: voucher.code } : lostRace;
            }
            voucher = rechecked.voucher;
          }
          // Every line is repriced and written back; only the units no checkout holds go into this order.
          const lines = await priced(current, prices, productIdsOf(current));
          const ordered = removeCheckedOutUnits(lines, held);
          const totals = basketTotals(ordered, voucher);
          // An empty order was answered above (every unit awaits an earlier order) or refused as an empty basket.
          if (totals === undefined) throw new FailedPreconditionError("the basket has nothing left to order");
          const { total, discount } = totals;
          const acceptedAt = now();
          const record: CheckoutRecord = {
            requestId,
            orderId: randomUUID(),
            total,
            acceptedAt,
            lines: ordered.map((line) => ({ productId: line.productId, quantity: line.quantity })),
            ...(voucher ? { voucherCode: voucher.code } : {}),
          };
          const event: UserCheckoutAccepted = {
            buyerId,
            requestId,
            orderId: record.orderId,
            address,
            paymentMethod,
            lines: ordered.map((line) => ({
              productId: line.productId,
              productName: line.productName,
              pictureUrl: line.pictureUrl,
              unitPrice: line.unitPrice,
              units: line.quantity,
            })),
            total,
            buyerEmail: ctx.principal?.email ?? "",
            voucherCode: voucher?.code ?? "",
            discount: voucher ? discount : undefined,
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
          return written ? { record, outcome: "accepted" as const } : lostRace;
        });

        if (outcome.outcome === "voucher removed") {
          // The same reason ApplyVoucher gives, so a client tells this refusal from the others and checks out again.
          throw new FailedPreconditionError(`${outcome.reason}; nothing was ordered: check the new total and check out again`, {
            reason: ErrorReason.VOUCHER_UNUSABLE,
            metadata: { code: outcome.code },
          });
        }
        const { record } = outcome;
        if (outcome.outcome === "repeated") {
          ctx.log.info({ requestId, orderId: record.orderId }, "checkout repeated: returning the first result");
        } else if (outcome.outcome === "awaiting") {
          ctx.log.info(
            { requestId, orderId: record.orderId, awaitingRequestId: record.requestId },
            "checkout of lines an earlier checkout holds until its order starts: returning that checkout",
          );
        } else {
          relay.notify();
          ctx.log.info(
            { requestId, orderId: record.orderId, total: record.total, card: { brand: paymentMethod.cardBrand, last4: paymentMethod.last4 } },
            "checkout accepted",
          );
        }
        // The request id of the checkout that makes the order: this one's, unless an earlier one holds every line.
        return { requestId: record.requestId, orderId: record.orderId, total: record.total, acceptTime: record.acceptedAt };
      },
    },
    { policies: basketPolicies, authenticate, logger },
  );
}
