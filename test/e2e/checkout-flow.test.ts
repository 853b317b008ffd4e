// The checkout saga through all four services, as a buyer and an admin use
// them: identity, catalog, basket and ordering on loopback, real RabbitMQ,
// PostgreSQL and the MongoDB-protocol server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ServiceError } from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import { type Order, OrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import type { EventName } from "../../platform/events/index.js";
import type { PaymentAuthorizationRequest, PaymentGateway } from "../../services/ordering/payment/payment-gateway.js";
import { createSimulatedPaymentGateway } from "../../services/ordering/payment/simulated-payment-gateway.js";
import {
  approvedCard,
  checkout,
  createItem,
  declinedCard,
  eventsOfOrder,
  getOrder,
  type Mesh,
  registerBuyer,
  startMesh,
  stockOf,
  waitForEvent,
  waitForOrderStatus,
} from "../support/e2e-mesh.js";
import { awaitedLater, deferred, waitUntil } from "../support/wait.js";

/**
 * The simulated gateway, except that authorisations for cards whose holder
 * name starts with "Hold" wait until the test releases them: the window in
 * which stock is reserved but the order is not paid yet, held open.
 */
function createHoldingGateway() {
  const simulated = createSimulatedPaymentGateway();
  const held = new Map<string, { request: PaymentAuthorizationRequest; release: ReturnType<typeof deferred> }>();
  const gateway: PaymentGateway = {
    async authorize(request) {
      if (request.paymentMethod.holderName.startsWith("Hold")) {
        const release = deferred();
        held.set(request.orderId, { request, release });
        await release.promise;
      }
      return simulated.authorize(request);
    },
    voidAuthorization: (authorizationId, orderId) => simulated.voidAuthorization(authorizationId, orderId),
  };
  return { gateway, held, voided: simulated.voided };
}

describe("checkout, end to end", () => {
  let mesh: Mesh;
  const payments = createHoldingGateway();
  /** Every service's log lines, at debug level. */
  const logLines: string[] = [];

  before(async () => {
    mesh = await startMesh({ label: "flow", paymentGateway: payments.gateway, logLines });
  });

  after(async () => {
    for (const { release } of payments.held.values()) release.resolve(undefined);
    await mesh?.stop();
  });

  const statusesOf = (order: Order) => order.statusHistory.map((change) => OrderStatus[change.status]);

  it("register → login → browse → basket → checkout → PAID → SHIPPED: stock sold, basket gone, one correlation id", async () => {
    const name = `Caneca Ponta a Ponta ${randomBytes(3).toString("hex")}`;
    const item = await createItem(mesh, name, 10, 2500);
    const buyer = await registerBuyer(mesh, "happy");

    const browsed = await mesh.call(mesh.catalog, "listItems", { pageSize: 10, pageToken: "", pageNumber: 0, brandId: "", typeId: "", query: name, sort: 0 });
    const found = browsed.items.find((candidate) => candidate.id === item.id);
    assert.equal(found?.availableStock, 10, "the buyer finds the item with its stock");

    const { orderId, correlationId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 3 }]);
    assert.notEqual(orderId, "");

    // Watch the order over the server stream from the moment it exists.
    await waitUntil("the order to exist", async () => (await getOrder(mesh, buyer, orderId).catch(() => undefined)) !== undefined, 30_000, 20);
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${buyer.token}`);
    const stream = mesh.ordering.watchOrder({ id: orderId }, metadata);
    const streamed: string[] = [];
    const streamEnded = awaitedLater(
      new Promise<void>((resolve, reject) => {
        stream.on("data", (message: { order?: Order }) => streamed.push(OrderStatus[message.order?.status ?? 0]));
        stream.on("end", resolve);
        stream.on("error", reject);
      }),
    );

    const paid = await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_PAID);
    assert.deepEqual(statusesOf(paid), ["ORDER_STATUS_SUBMITTED", "ORDER_STATUS_AWAITING_VALIDATION", "ORDER_STATUS_STOCK_CONFIRMED", "ORDER_STATUS_PAID"]);
    assert.deepEqual(paid.total, { currencyCode: "BRL", amountMinor: 7500 });
    assert.equal(paid.lines[0]?.productName, name);
    assert.equal(paid.paymentMethod?.last4, approvedCard.number.slice(-4));

    // The card number and CVV stop at basket: ordering stores neither, and no service logs them.
    const cardNumbers = [approvedCard.number, approvedCard.number.replace(/ /g, "")];
    const storedByOrdering = [
      ...(await mesh.orderingDb.selectFrom("orders").selectAll().execute()).map((row) => JSON.stringify(row)),
      ...(await mesh.orderingDb.selectFrom("outbox").select("payload").execute()).map((row) => Buffer.from(row.payload).toString("latin1")),
    ].join("\n");
    assert.ok(storedByOrdering.includes(orderId), "the search covers this order");
    assert.ok(!cardNumbers.some((number) => storedByOrdering.includes(number)), "card number at rest in ordering");
    const logged = logLines.join("");
    assert.match(logged, /order submitted/, "the search covers ordering's logs");
    assert.ok(!cardNumbers.some((number) => logged.includes(number)), "card number in a log");
    // A security code under its own name, as a field or inside a serialised object, unless redacted.
    assert.doesNotMatch(logged, /(?:securityCode|security_code|cvv)\\?"\s*:\s*\\?"?\d/i, "CVV in a log");

    await waitUntil("the reservation to become a sale", async () => {
      const stock = await stockOf(mesh, item.id);
      return stock.available === 7 && stock.reserved === 0;
    });
    await waitUntil("the basket to be emptied by OrderStarted", async () => {
      const { basket } = await mesh.call(mesh.basket, "getBasket", {}, { token: buyer.token });
      return (basket?.lines.length ?? 0) === 0;
    });

    // Shipping is the admin's own action, days later in real life: its event carries the admin call's trace.
    const shippingCorrelationId = `e2e-ship-${randomBytes(4).toString("hex")}`;
    const shipped = await mesh.call(mesh.ordering, "shipOrder", { id: orderId }, { token: await mesh.adminToken(), correlationId: shippingCorrelationId });
    assert.equal(shipped.order?.status, OrderStatus.ORDER_STATUS_SHIPPED);
    await streamEnded;
    const full = ["ORDER_STATUS_SUBMITTED", "ORDER_STATUS_AWAITING_VALIDATION", "ORDER_STATUS_STOCK_CONFIRMED", "ORDER_STATUS_PAID", "ORDER_STATUS_SHIPPED"];
    assert.deepEqual(streamed, full.slice(full.length - streamed.length), `the stream sent each change once, in order: ${streamed.join(", ")}`);
    assert.ok(streamed.length >= 2);

    const saga: EventName[] = [
      "UserCheckoutAccepted",
      "OrderStarted",
      "OrderStatusChangedToAwaitingValidation",
      "OrderStockConfirmed",
      "OrderStatusChangedToStockConfirmed",
      "OrderPaymentSucceeded",
      "OrderStatusChangedToPaid",
    ];
    for (const type of saga) await waitForEvent(mesh, orderId, type);
    const shippedEvent = await waitForEvent(mesh, orderId, "OrderStatusChangedToShipped");
    const sagaEvents = eventsOfOrder(mesh, orderId).filter((event) => event.type !== "OrderStatusChangedToShipped");
    assert.deepEqual(
      sagaEvents.filter((event) => event.correlationId !== correlationId).map((event) => `${event.type}: ${event.correlationId}`),
      [],
      `every event of the checkout saga carries the checkout call's correlation id ${correlationId}`,
    );
    assert.deepEqual(new Set(sagaEvents.map((event) => event.type)), new Set(saga));
    assert.equal(shippedEvent.correlationId, shippingCorrelationId);
  });

  it("cancels the order when the card is declined, and releases the reservation", async () => {
    const item = await createItem(mesh, `Camiseta Recusada ${randomBytes(3).toString("hex")}`, 5);
    const buyer = await registerBuyer(mesh, "declined");
    const { orderId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 2 }], { card: declinedCard });
    const order = await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_CANCELLED);
    assert.deepEqual(statusesOf(order), [
      "ORDER_STATUS_SUBMITTED",
      "ORDER_STATUS_AWAITING_VALIDATION",
      "ORDER_STATUS_STOCK_CONFIRMED",
      "ORDER_STATUS_CANCELLED",
    ]);
    assert.match(order.statusHistory.at(-1)?.reason ?? "", /declined/);
    await waitForEvent(mesh, orderId, "OrderPaymentFailed");
    await waitUntil("the reservation to be released", async () => {
      const stock = await stockOf(mesh, item.id);
      return stock.available === 5 && stock.reserved === 0;
    });
  });

  it("cancels the order when stock runs short, naming the short items and reserving nothing", async () => {
    const scarce = await createItem(mesh, `Item Escasso ${randomBytes(3).toString("hex")}`, 1);
    const plenty = await createItem(mesh, `Item Farto ${randomBytes(3).toString("hex")}`, 10);
    const buyer = await registerBuyer(mesh, "short");
    const { orderId } = await checkout(mesh, buyer, [
      { itemId: plenty.id, units: 2 },
      { itemId: scarce.id, units: 3 },
    ]);
    const order = await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_CANCELLED);
    const reason = order.statusHistory.at(-1)?.reason ?? "";
    assert.match(reason, new RegExp(`${scarce.id} \\(wanted 3, available 1\\)`));
    assert.doesNotMatch(reason, new RegExp(plenty.id), "only the short item is named");
    const rejected = await waitForEvent(mesh, orderId, "OrderStockRejected");
    assert.deepEqual(rejected.event.shortages, [{ productId: scarce.id, requestedUnits: 3, availableUnits: 1 }]);
    await waitForEvent(mesh, orderId, "OrderStatusChangedToCancelled");
    assert.deepEqual(await stockOf(mesh, plenty.id), { available: 10, reserved: 0 });
    assert.deepEqual(await stockOf(mesh, scarce.id), { available: 1, reserved: 0 });
  });

  it("lets the buyer cancel after stock is reserved but before payment, releasing the stock", async () => {
    const item = await createItem(mesh, `Luminária ${randomBytes(3).toString("hex")}`, 4);
    const buyer = await registerBuyer(mesh, "cancel");
    const { orderId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 3 }], { card: { ...approvedCard, holderName: "Hold Ana Souza" } });
    await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_STOCK_CONFIRMED);
    await waitUntil("the payment to be held at the gateway", () => payments.held.has(orderId));
    assert.deepEqual(await stockOf(mesh, item.id), { available: 1, reserved: 3 });

    const { order } = await mesh.call(mesh.ordering, "cancelOrder", { id: orderId, reason: "comprei em outra loja" }, { token: buyer.token });
    assert.equal(order?.status, OrderStatus.ORDER_STATUS_CANCELLED);
    await waitUntil("the reservation to be released", async () => {
      const stock = await stockOf(mesh, item.id);
      return stock.available === 4 && stock.reserved === 0;
    });

    // The gateway answers late: the order stays cancelled and the authorisation is given back.
    payments.held.get(orderId)?.release.resolve(undefined);
    await waitUntil("the late authorisation to be voided", () => payments.voided.size > 0);
    assert.equal((await getOrder(mesh, buyer, orderId)).status, OrderStatus.ORDER_STATUS_CANCELLED);
    assert.deepEqual(await stockOf(mesh, item.id), { available: 4, reserved: 0 });
    await assert.rejects(
      mesh.call(mesh.ordering, "cancelOrder", { id: orderId, reason: "" }, { token: buyer.token }),
      (error: ServiceError) => error.code === status.FAILED_PRECONDITION && /is CANCELLED and cannot become CANCELLED/.test(error.details),
    );
  });

  it("makes one order from a checkout request sent twice", async () => {
    const item = await createItem(mesh, `Vaso ${randomBytes(3).toString("hex")}`, 10);
    const buyer = await registerBuyer(mesh, "twice");
    const first = await checkout(mesh, buyer, [{ itemId: item.id, units: 1 }]);
    const again = await mesh.call(
      mesh.basket,
      "checkout",
      {
        requestId: first.requestId,
        address: { street: "Rua das Flores, 10", city: "São Paulo", state: "SP", country: "BR", zipCode: "01000-000" },
        card: approvedCard,
      },
      { token: buyer.token },
    );
    assert.equal(again.orderId, first.orderId, "the retried checkout answers with the same order");
    await waitForOrderStatus(mesh, buyer, first.orderId, OrderStatus.ORDER_STATUS_PAID);
    const { orders } = await mesh.call(mesh.ordering, "listOrders", { pageSize: 10, pageToken: "" }, { token: buyer.token });
    assert.deepEqual(
      orders.map((order) => order.id),
      [first.orderId],
    );
    await waitUntil("the sale of one unit", async () => {
      const stock = await stockOf(mesh, item.id);
      return stock.available === 9 && stock.reserved === 0;
    });
  });

  it("keeps other buyers out of an order", async () => {
    const item = await createItem(mesh, `Prato ${randomBytes(3).toString("hex")}`, 10);
    const owner = await registerBuyer(mesh, "owner");
    const stranger = await registerBuyer(mesh, "stranger");
    const { orderId } = await checkout(mesh, owner, [{ itemId: item.id, units: 1 }]);
    await waitForOrderStatus(mesh, owner, orderId, OrderStatus.ORDER_STATUS_PAID);
    await assert.rejects(getOrder(mesh, stranger, orderId), (error: ServiceError) => error.code === status.NOT_FOUND);
    const { orders } = await mesh.call(mesh.ordering, "listOrders", { pageSize: 10, pageToken: "" }, { token: stranger.token });
    assert.deepEqual(orders, []);
  });
});
