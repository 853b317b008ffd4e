// A cancelled order's lines back in the buyer's basket, over the real mesh:
// OrderStatusChangedToCancelled published on RabbitMQ, the basket pricing the
// lines against the real catalog and writing them to the MongoDB-protocol store.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Basket } from "../../gen/mel/basket/v1/basket.js";
import { OrderCancellationCause, OrderStarted, OrderStatusChangedToCancelled } from "../../gen/mel/events/v1/ordering_events.js";
import { createEventBus, type EventBus } from "../../platform/events/index.js";
import { callUnary } from "../../platform/grpc/index.js";
import { createLogger } from "../../platform/log/index.js";
import { type BasketTestMesh, startBasketTestMesh, type TestBuyer, testItems } from "../../test/support/basket-mesh.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { rabbitMqUrl, uniqueName, waitUntilQueueSettled } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";

function quantities(basket: Basket | undefined): Record<string, number> {
  return Object.fromEntries((basket?.lines ?? []).map((line) => [line.productId, line.quantity]));
}

describe("a cancelled order given back to the basket", () => {
  let mesh: BasketTestMesh;
  let publisher: EventBus;

  before(async () => {
    mesh = await startBasketTestMesh("basket-give-back");
    publisher = await createEventBus({ url: rabbitMqUrl, logger: createLogger({ service: "basket-test", level: "silent" }), exchange: mesh.exchange });
  });

  after(async () => {
    await publisher?.close();
    await mesh?.stop();
    await stopMongoServer();
  });

  const get = async (buyer: TestBuyer) => (await callUnary(mesh.client, "getBasket", {}, { metadata: buyer.metadata })).basket;
  const add = (buyer: TestBuyer, productId: string, quantity: number) =>
    callUnary(mesh.client, "addItem", { productId, quantity }, { metadata: buyer.metadata });

  function cancellation(buyer: TestBuyer, cause: OrderCancellationCause, items: Array<{ productId: string; units: number }>): OrderStatusChangedToCancelled {
    return { orderId: randomUUID(), buyerId: buyer.id, reason: "cancelled", items, cause };
  }

  /** Publishes `event` (under `eventId` when given) and waits until the basket's consumer has handled it. */
  async function deliver(event: OrderStatusChangedToCancelled, eventId?: string): Promise<string> {
    const id = await publisher.publish(OrderStatusChangedToCancelled, event, eventId === undefined ? {} : { eventId });
    await waitUntil(
      "the cancellation handled by the basket",
      async () =>
        (await mesh.basket.db.inbox.countDocuments({ eventId: id, consumer: "basket.give-back-cancelled-order", handledAt: { $ne: null } }).exec()) === 1,
    );
    return id;
  }

  it("gives a stock-short order's lines back, merged with a line added since, at the catalog's current price", async () => {
    const productId = `given-back-${uniqueName("p").slice(-8)}`;
    await mesh.addProduct(productId, 400);
    const { item } = await callUnary(mesh.catalogClient, "getItem", { id: productId });
    assert.ok(item);
    await callUnary(
      mesh.catalogClient,
      "updateItem",
      { item: { ...item, price: { currencyCode: "BRL", amountMinor: 550 } }, updateMask: ["price"] },
      { metadata: await mesh.admin() },
    );
    const buyer = await mesh.signUp("stock-short");
    await add(buyer, "pote", 1);

    await deliver(
      cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT, [
        { productId, units: 2 },
        { productId: "pote", units: 3 },
      ]),
    );

    const basket = await get(buyer);
    assert.deepEqual(quantities(basket), { pote: 4, [productId]: 2 });
    const line = basket?.lines.find((candidate) => candidate.productId === productId);
    assert.deepEqual(line?.unitPrice, { currencyCode: "BRL", amountMinor: 550 });
    assert.equal(line?.productName, `Produto ${productId}`);
    assert.equal(basket?.lines.find((candidate) => candidate.productId === "pote")?.unitPrice?.amountMinor, testItems.pote);
  });

  it("gives a declined payment's lines back to a buyer who has no basket left", async () => {
    const buyer = await mesh.signUp("declined");
    await deliver(cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED, [{ productId: "mel", units: 2 }]));
    assert.deepEqual(quantities(await get(buyer)), { mel: 2 });
  });

  it("leaves the basket alone when the buyer cancelled the order", async () => {
    const buyer = await mesh.signUp("buyer-cancel");
    await add(buyer, "pote", 1);
    const before = await get(buyer);
    await deliver(cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER, [{ productId: "mel", units: 2 }]));
    const after = await get(buyer);
    assert.deepEqual(quantities(after), { pote: 1 });
    assert.equal(after?.version, before?.version);
  });

  it("leaves the basket alone for a cancellation that states no cause", async () => {
    const buyer = await mesh.signUp("no-cause");
    await deliver(cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_UNSPECIFIED, [{ productId: "mel", units: 2 }]));
    assert.deepEqual(quantities(await get(buyer)), {});
  });

  it("gives a cancellation back once when the same event is delivered again", async () => {
    const buyer = await mesh.signUp("redelivered");
    const event = cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT, [{ productId: "favo", units: 3 }]);
    const eventId = await deliver(event);
    const given = await get(buyer);
    assert.deepEqual(quantities(given), { favo: 3 });

    await publisher.publish(OrderStatusChangedToCancelled, event, { eventId });
    await waitUntilQueueSettled(mesh.basketConfig.queue);

    assert.deepEqual(await get(buyer), given);
  });

  it("gives a cancellation back once when ordering announces it again under a new event id", async () => {
    const buyer = await mesh.signUp("announced-again");
    const event = cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED, [{ productId: "favo", units: 3 }]);
    await deliver(event);
    const given = await get(buyer);
    assert.deepEqual(quantities(given), { favo: 3 });

    await deliver(event);

    assert.deepEqual(await get(buyer), given);
    const document = await mesh.basket.db.baskets.findById(buyer.id).lean().exec();
    assert.deepEqual(
      document?.returnedOrders?.map((entry) => entry.orderId),
      [event.orderId],
    );
  });

  it("caps a given-back line at the most units per product", async () => {
    const buyer = await mesh.signUp("capped");
    const most = mesh.basketConfig.limits.maxLineQuantity;
    await add(buyer, "caneca", most - 2);
    await deliver(cancellation(buyer, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT, [{ productId: "caneca", units: 5 }]));
    assert.deepEqual(quantities(await get(buyer)), { caneca: most });
  });

  it("keeps the order's lines once when the cancellation overtakes its OrderStarted", async () => {
    const buyer = await mesh.signUp("before-started");
    const orderId = randomUUID();
    const requestId = randomUUID();
    await add(buyer, "mel", 1);
    // The checkout record as the basket writes it at checkout: its lines stay in the basket until OrderStarted.
    await mesh.basket.db.baskets
      .updateOne(
        { _id: buyer.id },
        {
          $set: {
            checkouts: [
              {
                requestId,
                orderId,
                total: { currencyCode: "BRL", amountMinor: testItems.mel },
                acceptedAt: new Date(),
                lines: [{ productId: "mel", quantity: 1 }],
              },
            ],
          },
        },
      )
      .exec();

    await deliver({
      orderId,
      buyerId: buyer.id,
      reason: "cancelled",
      items: [{ productId: "mel", units: 1 }],
      cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_STOCK_SHORT,
    });
    assert.deepEqual(quantities(await get(buyer)), { mel: 1 });

    const startedId = await publisher.publish(OrderStarted, { orderId, buyerId: buyer.id, checkoutRequestId: requestId });
    await waitUntil(
      "OrderStarted handled",
      async () => (await mesh.basket.db.inbox.countDocuments({ eventId: startedId, handledAt: { $ne: null } }).exec()) === 1,
    );
    assert.deepEqual(quantities(await get(buyer)), { mel: 1 });
  });
});
