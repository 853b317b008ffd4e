// BasketService over real gRPC on loopback with the generated client: real
// identity tokens, the real catalog pricing every change, a MongoDB-protocol
// server (FerretDB unless MEL_TEST_MONGODB_URL) and RabbitMQ for the events.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { type Basket, BasketServiceClient, type CheckoutRequest } from "../../gen/mel/basket/v1/basket.js";
import { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import { CheckoutRejected, OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { createEventBus, type EventBus } from "../../platform/events/index.js";
import { callUnary } from "../../platform/grpc/index.js";
import { createLogger } from "../../platform/log/index.js";
import { type BasketTestMesh, startBasketTestMesh, type TestBuyer, testItems } from "../../test/support/basket-mesh.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { BrokerProbe, rabbitMqUrl, uniqueName, waitUntilQueueSettled } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";
import { bytesOf } from "./basket.mapper.js";
import { rejectsWith } from "./basket.test-support.js";
import { startBasket } from "./main.js";
import { startMongoProxy } from "./mongo-proxy.test-support.js";

const validCheckout = (requestId: string = randomUUID()): CheckoutRequest => ({
  requestId,
  address: { street: "Rua do Mel, 42", city: "Natal", state: "RN", country: "BR", zipCode: "59000-000" },
  card: { number: "4111 1111 1111 1111", holderName: "Ana Souza", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, securityCode: "737" },
});

function quantities(basket: Basket | undefined): Record<string, number> {
  return Object.fromEntries((basket?.lines ?? []).map((line) => [line.productId, line.quantity]));
}

describe("BasketService over gRPC", () => {
  let mesh: BasketTestMesh;
  let probe: BrokerProbe;
  let publisher: EventBus;
  /** Bound to the mesh's exchange: every UserCheckoutAccepted the basket publishes lands here. */
  let checkoutsQueue: string;

  /** Every line the basket logs (at debug level), to prove card data never reaches them. */
  const logLines: string[] = [];

  before(async () => {
    const logger = createLogger({ service: "basket", level: "debug", destination: { write: (line: string) => void logLines.push(line) } });
    mesh = await startBasketTestMesh("basket-grpc", { logger });
    probe = await BrokerProbe.open();
    checkoutsQueue = `${mesh.exchange}.checkouts-seen`;
    await probe.raw.assertQueue(checkoutsQueue, { durable: false });
    await probe.raw.bindQueue(checkoutsQueue, mesh.exchange, "UserCheckoutAccepted");
    publisher = await createEventBus({ url: rabbitMqUrl, logger: createLogger({ service: "basket-test", level: "silent" }), exchange: mesh.exchange });
  });

  after(async () => {
    await publisher?.close();
    await probe?.raw.deleteQueue(checkoutsQueue).catch(() => undefined);
    await probe?.close();
    await mesh?.stop();
    await stopMongoServer();
  });

  const call = {
    get: (buyer: TestBuyer) => callUnary(mesh.client, "getBasket", {}, { metadata: buyer.metadata }),
    add: (buyer: TestBuyer, productId: string, quantity: number) => callUnary(mesh.client, "addItem", { productId, quantity }, { metadata: buyer.metadata }),
    set: (buyer: TestBuyer, items: Array<{ productId: string; quantity: number }>) =>
      callUnary(mesh.client, "setItems", { items }, { metadata: buyer.metadata }),
    update: (buyer: TestBuyer, productId: string, quantity: number) =>
      callUnary(mesh.client, "updateItemQuantity", { productId, quantity }, { metadata: buyer.metadata }),
    remove: (buyer: TestBuyer, productId: string) => callUnary(mesh.client, "removeItem", { productId }, { metadata: buyer.metadata }),
    clear: (buyer: TestBuyer) => callUnary(mesh.client, "deleteBasket", {}, { metadata: buyer.metadata }),
    checkout: (buyer: TestBuyer, request: CheckoutRequest) => callUnary(mesh.client, "checkout", request, { metadata: buyer.metadata }),
  };

  /** The buyer's document as stored, serialised: what is at rest. */
  async function storedDocument(buyer: TestBuyer): Promise<string> {
    const document = await mesh.basket.db.baskets.findById(buyer.id).lean().exec();
    return JSON.stringify(document);
  }

  describe("life cycle", () => {
    it("adds, changes, removes and replaces lines, priced by the catalog, then empties the basket", async () => {
      const buyer = await mesh.signUp("lifecycle");
      const empty = (await call.get(buyer)).basket;
      assert.deepEqual(
        { ...empty, lines: empty?.lines },
        {
          buyerId: buyer.id,
          lines: [],
          total: undefined,
          subtotal: undefined,
          discount: undefined,
          voucher: undefined,
          voucherRemovedReason: "",
          version: 0,
          updateTime: undefined,
        },
      );

      await call.add(buyer, "mel", 2);
      const added = (await call.add(buyer, "caneca", 1)).basket;
      assert.deepEqual(added?.lines[0], {
        productId: "mel",
        productName: "Produto mel",
        pictureUrl: "/pics/mel.webp",
        unitPrice: { currencyCode: "BRL", amountMinor: testItems.mel },
        oldUnitPrice: undefined,
        quantity: 2,
      });
      assert.deepEqual(added?.total, { currencyCode: "BRL", amountMinor: 2 * testItems.mel + testItems.caneca });
      assert.equal(added?.version, 2);
      assert.ok(added?.updateTime instanceof Date);

      assert.deepEqual(quantities((await call.add(buyer, "mel", 3)).basket), { mel: 5, caneca: 1 });
      assert.deepEqual(quantities((await call.update(buyer, "mel", 7)).basket), { mel: 7, caneca: 1 });
      assert.deepEqual(quantities((await call.remove(buyer, "caneca")).basket), { mel: 7 });
      const replaced = (
        await call.set(buyer, [
          { productId: "pote", quantity: 3 },
          { productId: "mel", quantity: 1 },
        ])
      ).basket;
      assert.deepEqual(quantities(replaced), { pote: 3, mel: 1 });
      assert.deepEqual(replaced?.total, { currencyCode: "BRL", amountMinor: 3 * testItems.pote + testItems.mel });

      const stored = (await call.get(buyer)).basket;
      assert.deepEqual(stored, replaced);

      await call.clear(buyer);
      const cleared = (await call.get(buyer)).basket;
      assert.deepEqual(cleared?.lines, []);
      assert.equal(cleared?.total, undefined);
      assert.equal(cleared?.version, 7);
    });
  });

  describe("authentication", () => {
    it("refuses calls without a valid token", async () => {
      await rejectsWith(callUnary(mesh.client, "getBasket", {}), status.UNAUTHENTICATED, /^this method needs a bearer token/);
      const forged = new Metadata();
      forged.set("authorization", "Bearer not.a.token");
      await rejectsWith(
        callUnary(mesh.client, "addItem", { productId: "mel", quantity: 1 }, { metadata: forged }),
        status.UNAUTHENTICATED,
        /^the access token is malformed$/,
      );
    });

    it("gives each buyer only their own basket", async () => {
      const ana = await mesh.signUp("ana");
      const bia = await mesh.signUp("bia");
      await call.add(ana, "mel", 2);
      assert.deepEqual((await call.get(bia)).basket?.lines, []);
      await call.add(bia, "pote", 1);
      await call.clear(bia);
      const anas = (await call.get(ana)).basket;
      assert.equal(anas?.buyerId, ana.id);
      assert.deepEqual(quantities(anas), { mel: 2 });
      // Ana's product is not in Bia's basket, whatever id Bia names.
      await rejectsWith(call.remove(bia, "mel"), status.NOT_FOUND, /mel is not in your basket/);
    });
  });

  describe("validation", () => {
    it("refuses bad quantities and product ids with INVALID_ARGUMENT naming the field", async () => {
      const buyer = await mesh.signUp("validation");
      await rejectsWith(call.add(buyer, "mel", 0), status.INVALID_ARGUMENT, /^quantity: must be between 1 and 60/);
      await rejectsWith(call.add(buyer, "mel", -3), status.INVALID_ARGUMENT, /^quantity:/);
      await rejectsWith(call.add(buyer, "mel", 61), status.INVALID_ARGUMENT, /^quantity: must be at most 60 units per product/);
      await rejectsWith(call.add(buyer, "", 1), status.INVALID_ARGUMENT, /^product_id: is required/);
      await call.add(buyer, "mel", 59);
      await rejectsWith(call.add(buyer, "mel", 2), status.INVALID_ARGUMENT, /would make 61 units of mel/);
      await rejectsWith(call.update(buyer, "mel", 0), status.INVALID_ARGUMENT, /^quantity:/);
      await rejectsWith(
        call.set(buyer, [
          { productId: "mel", quantity: 1 },
          { productId: "mel", quantity: 2 },
        ]),
        status.INVALID_ARGUMENT,
        /^items\[1\]\.product_id: mel is already in items\[0\]/,
      );
      assert.deepEqual(quantities((await call.get(buyer)).basket), { mel: 59 });
    });

    it("answers NOT_FOUND naming a product the catalog does not have or the basket does not hold", async () => {
      const buyer = await mesh.signUp("not-found");
      await rejectsWith(call.add(buyer, "no-such-item", 1), status.NOT_FOUND, /product no-such-item not found in the catalog/);
      await rejectsWith(
        call.set(buyer, [
          { productId: "mel", quantity: 1 },
          { productId: "ghost-1", quantity: 1 },
          { productId: "ghost-2", quantity: 1 },
        ]),
        status.NOT_FOUND,
        /products ghost-1, ghost-2 not found/,
      );
      await rejectsWith(call.update(buyer, "caneca", 2), status.NOT_FOUND, /caneca is not in your basket/);
      assert.deepEqual((await call.get(buyer)).basket?.lines, []);
    });

    it("checks every checkout field, naming it, and refuses an empty basket", async () => {
      const buyer = await mesh.signUp("checkout-validation");
      const request = validCheckout();
      await rejectsWith(call.checkout(buyer, { ...request, requestId: "not-a-uuid" }), status.INVALID_ARGUMENT, /^request_id: must be a UUID/);
      await rejectsWith(
        call.checkout(buyer, { ...request, address: { ...request.address!, zipCode: "" } }),
        status.INVALID_ARGUMENT,
        /^address\.zip_code: is required/,
      );
      await rejectsWith(
        call.checkout(buyer, { ...request, card: { ...request.card!, number: "4111 1111 1111 1112" } }),
        status.INVALID_ARGUMENT,
        /^card\.number: is not a valid card number/,
      );
      await rejectsWith(call.checkout(buyer, { ...request, card: { ...request.card!, expiryYear: 2020 } }), status.INVALID_ARGUMENT, /^card\.expiry_year:/);
      await rejectsWith(
        call.checkout(buyer, { ...request, card: { ...request.card!, securityCode: "12" } }),
        status.INVALID_ARGUMENT,
        /^card\.security_code: must be the 3 or 4 digits/,
      );
      await rejectsWith(call.checkout(buyer, { ...request, card: undefined }), status.INVALID_ARGUMENT, /^card: is required/);
      await rejectsWith(call.checkout(buyer, request), status.FAILED_PRECONDITION, /your basket is empty/);
    });
  });

  describe("catalog down", () => {
    it("answers UNAVAILABLE with a clear message and leaves the basket as it was", async () => {
      const buyer = await mesh.signUp("catalog-down");
      const before = (await call.add(buyer, "mel", 2)).basket;
      await mesh.stopCatalog();
      try {
        await rejectsWith(
          call.add(buyer, "caneca", 1),
          status.UNAVAILABLE,
          /^the catalog service is unavailable, so prices cannot be checked; your basket was not changed/,
        );
        await rejectsWith(call.update(buyer, "mel", 5), status.UNAVAILABLE, /catalog service is unavailable/);
        await rejectsWith(call.checkout(buyer, validCheckout()), status.UNAVAILABLE, /catalog service is unavailable/);
        assert.deepEqual((await call.get(buyer)).basket, before);
      } finally {
        await mesh.startCatalogAgain();
      }
      // Back up (the breaker half-opens after 100 ms in tests): changes go through again.
      await waitUntil(
        "catalog reachable again",
        () =>
          call.add(buyer, "caneca", 1).then(
            () => true,
            () => false,
          ),
        10_000,
        100,
      );
      assert.deepEqual(quantities((await call.get(buyer)).basket), { mel: 2, caneca: 1 });
    });
  });

  describe("store down", () => {
    it("answers UNAVAILABLE with a clear message while MongoDB cannot be reached, and serves again once it can", async () => {
      const proxy = await startMongoProxy(mesh.mongo.url);
      // A second basket instance on the same database, reaching it through the
      // proxy, that gives up on the store after three seconds. The same
      // timeout bounds its reconnection handshake once the store is back, so
      // it must leave room for a busy machine.
      // Its log lines, and the last answer it gave, explain a recovery that does not come.
      const outageLog: string[] = [];
      const outage = await startBasket({
        config: {
          ...mesh.basketConfig,
          port: 0,
          mongoUrl: proxy.url,
          mongoTimeoutMs: 3000,
          queue: `${mesh.basketConfig.queue}.outage`,
        },
        logger: createLogger({ service: "basket", level: "debug", destination: { write: (line: string) => void outageLog.push(line) } }),
      });
      const client = new BasketServiceClient(`127.0.0.1:${outage.port}`, credentials.createInsecure());
      const buyer = await mesh.signUp("store-down");
      const on = { metadata: buyer.metadata };
      try {
        const before = (await callUnary(client, "addItem", { productId: "mel", quantity: 2 }, on)).basket;
        await proxy.cut();
        const storeDown = /^the basket store is unavailable right now, so the basket cannot be read or changed; try again shortly/;
        await rejectsWith(callUnary(client, "getBasket", {}, on), status.UNAVAILABLE, storeDown);
        await rejectsWith(callUnary(client, "addItem", { productId: "caneca", quantity: 1 }, on), status.UNAVAILABLE, storeDown);
        await rejectsWith(callUnary(client, "updateItemQuantity", { productId: "mel", quantity: 5 }, on), status.UNAVAILABLE, storeDown);
        await rejectsWith(callUnary(client, "checkout", validCheckout(), on), status.UNAVAILABLE, storeDown);
        // The instance that still reaches the store shows the basket as it was.
        assert.deepEqual((await call.get(buyer)).basket, before);

        await proxy.restore();
        let lastAnswer = "none yet";
        await waitUntil(
          "the store reachable again",
          () =>
            // Each try has its own deadline, so one call that hangs is reported rather than eating the wait.
            callUnary(client, "getBasket", {}, { ...on, deadline: new Date(Date.now() + 5000) }).then(
              () => true,
              (error: { code?: number; details?: string }) => {
                lastAnswer = `${error.code === undefined ? "" : status[error.code]} ${error.details ?? String(error)}`;
                return false;
              },
            ),
          15_000,
          100,
        ).catch((error: unknown) => {
          throw new Error(`${(error as Error).message}; the last answer: ${lastAnswer}; the outage instance's log:\n${outageLog.slice(-30).join("")}`);
        });
        assert.deepEqual(quantities((await callUnary(client, "addItem", { productId: "caneca", quantity: 1 }, on)).basket), { mel: 2, caneca: 1 });
      } finally {
        client.close();
        await outage.stop();
        await proxy.close();
      }
    });
  });

  describe("concurrent edits", () => {
    it("applies 50 concurrent AddItem calls of one unit each: the quantity is 50", async () => {
      const buyer = await mesh.signUp("concurrent");
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => call.add(buyer, "favo", 1)));
      const failures = results.flatMap((result) => (result.status === "rejected" ? [String((result.reason as Error).message)] : []));
      assert.deepEqual(failures, []);
      const basket = (await call.get(buyer)).basket;
      assert.deepEqual(quantities(basket), { favo: 50 });
      // One version per write: no write was lost or applied twice.
      assert.equal(basket?.version, 50);
    });

    it("applies 50 concurrent quantity changes as one serial order: each answer is the basket after that change, in version order", async () => {
      const buyer = await mesh.signUp("concurrent-quantities");
      const start = (
        await call.set(buyer, [
          { productId: "mel", quantity: 1 },
          { productId: "favo", quantity: 1 },
        ])
      ).basket!;
      // Even calls set mel's quantity (each a different value), odd calls add one favo.
      const change = (index: number, lines: Record<string, number>) =>
        index % 2 === 0 ? { ...lines, mel: 2 + index / 2 } : { ...lines, favo: (lines.favo ?? 0) + 1 };
      const answers = await Promise.all(
        Array.from({ length: 50 }, async (_, index) => {
          const response = index % 2 === 0 ? await call.update(buyer, "mel", 2 + index / 2) : await call.add(buyer, "favo", 1);
          return { index, basket: response.basket! };
        }),
      );
      answers.sort((a, b) => a.basket.version - b.basket.version);
      assert.deepEqual(
        answers.map((answer) => answer.basket.version),
        Array.from({ length: 50 }, (_, offset) => start.version + 1 + offset),
        "each change wrote exactly one version after the one before",
      );
      // Replaying the calls one at a time in the order their versions say gives every answer: no change was lost or saw a stale basket.
      let serial = quantities(start);
      for (const { index, basket } of answers) {
        serial = change(index, serial);
        assert.deepEqual(quantities(basket), serial, `call ${index} (version ${basket.version})`);
      }
      assert.deepEqual((await call.get(buyer)).basket, answers.at(-1)?.basket);
    });

    it("serialises concurrent changes of different kinds: the result is one of the serial orders", async () => {
      const buyer = await mesh.signUp("mixed");
      await call.set(buyer, [{ productId: "mel", quantity: 10 }]);
      await Promise.all([call.add(buyer, "mel", 5), call.update(buyer, "mel", 1), call.add(buyer, "pote", 2), call.add(buyer, "mel", 3)]);
      const mel = quantities((await call.get(buyer)).basket).mel ?? 0;
      // update(1) runs at some point; the adds before it are overwritten, the adds after it count.
      assert.ok([1, 4, 6, 9].includes(mel), `mel quantity ${mel} matches no serial order`);
      assert.equal(quantities((await call.get(buyer)).basket).pote, 2);
    });
  });

  describe("checkout", () => {
    it("records UserCheckoutAccepted once for a request id: a retry returns the same order and publishes nothing new", async () => {
      const buyer = await mesh.signUp("checkout");
      await call.add(buyer, "mel", 2);
      await call.add(buyer, "caneca", 1);
      const before = await probe.readyCount(checkoutsQueue);
      const request = validCheckout();

      const [first, concurrent] = await Promise.all([call.checkout(buyer, request), call.checkout(buyer, request)]);
      const retried = await call.checkout(buyer, { ...request, requestId: request.requestId.toUpperCase() });
      assert.equal(concurrent.orderId, first.orderId);
      assert.equal(retried.orderId, first.orderId);
      assert.deepEqual(retried.acceptTime, first.acceptTime);
      assert.equal(first.requestId, request.requestId);
      assert.deepEqual(first.total, { currencyCode: "BRL", amountMinor: 2 * testItems.mel + testItems.caneca });

      // Publishing happens only from outbox entries: one entry, sent, means one message and no more to come.
      await waitUntil("the outbox entry marked sent", async () => (await mesh.basket.db.baskets.findById(buyer.id).lean().exec())?.outboxPending === false);
      const document = await mesh.basket.db.baskets.findById(buyer.id).lean().exec();
      assert.equal(document?.outbox.length, 1);
      assert.equal(document?.checkouts.length, 1);
      assert.equal(await probe.readyCount(checkoutsQueue), before + 1);
      const message = await probe.raw.get(checkoutsQueue, { noAck: true });
      assert.ok(message);
      assert.equal(message.properties.type, "UserCheckoutAccepted");
      assert.equal(message.properties.contentType, "application/x-protobuf");
      const event = UserCheckoutAccepted.decode(message.content);
      assert.equal(event.buyerId, buyer.id);
      assert.equal(event.buyerEmail, buyer.email);
      assert.equal(event.requestId, request.requestId);
      assert.equal(event.orderId, first.orderId);
      assert.deepEqual(event.total, first.total);
      assert.deepEqual(
        event.lines.map((line) => [line.productId, line.units, line.unitPrice?.amountMinor]),
        [
          ["mel", 2, testItems.mel],
          ["caneca", 1, testItems.caneca],
        ],
      );
      assert.deepEqual(
        { ...event.paymentMethod, paymentToken: undefined },
        {
          cardBrand: "visa",
          last4: "1111",
          expiryMonth: 12,
          expiryYear: request.card!.expiryYear,
          holderName: "Ana Souza",
          paymentToken: undefined,
        },
      );
      assert.match(event.paymentMethod?.paymentToken ?? "", /^pt_/);

      // The card never reaches the broker or the store.
      assert.ok(!message.content.toString("latin1").includes("4111111111111111"));
      const stored = await storedDocument(buyer);
      assert.ok(!stored.includes("4111111111111111"), "card number at rest");
      assert.ok(!stored.includes('"737"'), "CVV at rest");
      const logged = logLines.join("");
      assert.match(logged, /checkout accepted/);
      assert.ok(!logged.includes("4111111111111111") && !logged.includes("4111 1111 1111 1111"), "card number in the logs");
      assert.ok(!logged.includes('"737"'), "CVV in the logs");
    });
  });

  describe("checkout of lines awaiting their order", () => {
    /** The buyer's document once its relay has sent every outbox entry. */
    async function settledDocument(buyer: TestBuyer) {
      await waitUntil("the outbox entries marked sent", async () => (await mesh.basket.db.baskets.findById(buyer.id).lean().exec())?.outboxPending === false);
      return mesh.basket.db.baskets.findById(buyer.id).lean().exec();
    }

    it("answers a second checkout with another request id, before the order started, with the first checkout's order", async () => {
      const buyer = await mesh.signUp("second-tab");
      await call.add(buyer, "mel", 1);
      const first = await call.checkout(buyer, validCheckout());
      const secondTab = await call.checkout(buyer, validCheckout());
      assert.equal(secondTab.orderId, first.orderId);
      assert.equal(secondTab.requestId, first.requestId, "the answer names the checkout that makes the order");
      assert.deepEqual(secondTab.total, first.total);
      const document = await settledDocument(buyer);
      assert.equal(document?.checkouts.length, 1);
      assert.deepEqual(
        document?.outbox.map((entry) => entry.type),
        ["UserCheckoutAccepted"],
      );
    });

    it("makes one checkout of a one-unit basket checked out five times at once with five request ids", async () => {
      const buyer = await mesh.signUp("five-tabs");
      await call.add(buyer, "caneca", 1);
      const answers = await Promise.all(Array.from({ length: 5 }, () => call.checkout(buyer, validCheckout())));
      assert.equal(new Set(answers.map((answer) => answer.orderId)).size, 1, "every checkout answers with the one order");
      const document = await settledDocument(buyer);
      assert.equal(document?.checkouts.length, 1);
      const [entry, ...more] = document?.outbox ?? [];
      assert.ok(entry && more.length === 0, "one outbox entry");
      const event = UserCheckoutAccepted.decode(bytesOf(entry.payload));
      assert.deepEqual(
        event.lines.map((line) => [line.productId, line.units]),
        [["caneca", 1]],
      );
      assert.equal(event.orderId, answers[0]?.orderId);
    });

    it("orders only the units added after a checkout that still awaits its order", async () => {
      const buyer = await mesh.signUp("added-after");
      await call.add(buyer, "mel", 2);
      const first = await call.checkout(buyer, validCheckout());
      await call.add(buyer, "mel", 1);
      await call.add(buyer, "favo", 1);
      const second = await call.checkout(buyer, validCheckout());
      assert.notEqual(second.orderId, first.orderId);
      assert.deepEqual(second.total, { currencyCode: "BRL", amountMinor: testItems.mel + testItems.favo });
      const document = await settledDocument(buyer);
      const events = (document?.outbox ?? []).map((entry) => UserCheckoutAccepted.decode(bytesOf(entry.payload)));
      assert.deepEqual(
        events.map((event) => [event.orderId, event.lines.map((line) => [line.productId, line.units])]),
        [
          [first.orderId, [["mel", 2]]],
          [
            second.orderId,
            [
              ["mel", 1],
              ["favo", 1],
            ],
          ],
        ],
      );
      // Every line stays in the basket until its order starts.
      assert.deepEqual(quantities((await call.get(buyer)).basket), { mel: 3, favo: 1 });
    });

    it("frees the lines of a checkout ordering rejected: a new checkout orders them, a retry of the rejected one is refused with the reason", async () => {
      const buyer = await mesh.signUp("rejected");
      await call.add(buyer, "favo", 2);
      const request = validCheckout();
      const rejected = await call.checkout(buyer, request);
      const reason = "the checkout is invalid: lines[0].units: must be 1 to 99 (got 0)";
      const eventId = await publisher.publish(CheckoutRejected, {
        orderId: rejected.orderId,
        buyerId: buyer.id,
        checkoutRequestId: request.requestId,
        reason,
      });
      await waitUntil("the rejection handled", async () => (await mesh.basket.db.inbox.countDocuments({ eventId, handledAt: { $ne: null } }).exec()) === 1);
      const refusal = `checkout ${request.requestId} was rejected and made no order (${reason}); check out again with a new request_id`;
      await rejectsWith(call.checkout(buyer, request), status.FAILED_PRECONDITION, new RegExp(`^${refusal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
      const again = await call.checkout(buyer, validCheckout());
      assert.notEqual(again.orderId, rejected.orderId);
      assert.deepEqual(again.total, rejected.total);
      assert.deepEqual(quantities((await call.get(buyer)).basket), { favo: 2 }, "the lines stay in the basket");
    });

    it("checks the same lines out again once their order started and the buyer put them back", async () => {
      const buyer = await mesh.signUp("after-start");
      await call.add(buyer, "pote", 1);
      const request = validCheckout();
      const first = await call.checkout(buyer, request);
      await publisher.publish(OrderStarted, { orderId: first.orderId, buyerId: buyer.id, checkoutRequestId: request.requestId });
      await waitUntil("the ordered line removed", async () => (await call.get(buyer)).basket?.lines.length === 0);
      await call.add(buyer, "pote", 1);
      const next = await call.checkout(buyer, validCheckout());
      assert.notEqual(next.orderId, first.orderId);
    });
  });

  describe("events", () => {
    it("reprices every basket holding a product when its catalog price changes, keeping the old price", async () => {
      // A product of its own: the other tests keep the seeded prices.
      const productId = `repriced-${uniqueName("p").slice(-8)}`;
      await mesh.addProduct(productId, 400);
      const buyer = await mesh.signUp("price-change");
      const other = await mesh.signUp("price-change-other");
      await call.add(buyer, productId, 2);
      await call.add(buyer, "mel", 1);
      await call.add(other, productId, 1);
      const { item } = await callUnary(mesh.catalogClient, "getItem", { id: productId });
      assert.ok(item);
      const newPrice = { currencyCode: "BRL", amountMinor: 400 + 150 };
      await callUnary(mesh.catalogClient, "updateItem", { item: { ...item, price: newPrice }, updateMask: ["price"] }, { metadata: await mesh.admin() });

      for (const holder of [buyer, other]) {
        await waitUntil(
          "the basket repriced",
          async () => (await call.get(holder)).basket?.lines.find((line) => line.productId === productId)?.unitPrice?.amountMinor === newPrice.amountMinor,
        );
      }
      const basket = (await call.get(buyer)).basket;
      const repriced = basket?.lines.find((line) => line.productId === productId);
      assert.deepEqual(repriced?.oldUnitPrice, { currencyCode: "BRL", amountMinor: 400 });
      assert.equal(basket?.lines.find((line) => line.productId === "mel")?.oldUnitPrice, undefined);
      assert.deepEqual(basket?.total, { currencyCode: "BRL", amountMinor: 2 * newPrice.amountMinor + testItems.mel });
    });

    it("removes the checked-out lines when the order starts, keeping what was added after checkout; a duplicate changes nothing", async () => {
      const buyer = await mesh.signUp("order-started");
      await call.add(buyer, "mel", 2);
      await call.add(buyer, "caneca", 1);
      const request = validCheckout();
      const accepted = await call.checkout(buyer, request);
      // Added after checkout: belongs to the next order.
      await call.add(buyer, "favo", 1);
      await call.add(buyer, "mel", 1);

      const started = { orderId: accepted.orderId, buyerId: buyer.id, checkoutRequestId: request.requestId };
      const eventId = await publisher.publish(OrderStarted, started);
      await waitUntil("the ordered lines removed", async () => quantities((await call.get(buyer)).basket).caneca === undefined);
      const after = (await call.get(buyer)).basket;
      assert.deepEqual(quantities(after), { mel: 1, favo: 1 });
      // The inbox entry is marked handled just after the effect lands.
      await waitUntil("the event marked handled", async () => (await mesh.basket.db.inbox.countDocuments({ eventId, handledAt: { $ne: null } }).exec()) === 1);

      // The same event again (a redelivery) and a second event for the same order (a republish) change nothing.
      await publisher.publish(OrderStarted, started, { eventId });
      const republishedId = await publisher.publish(OrderStarted, started);
      await waitUntil(
        "the republished event handled",
        async () => (await mesh.basket.db.inbox.countDocuments({ eventId: republishedId, handledAt: { $ne: null } }).exec()) === 1,
      );
      await waitUntilQueueSettled(mesh.basketConfig.queue);
      assert.deepEqual((await call.get(buyer)).basket, after);
      assert.equal(await mesh.basket.db.inbox.countDocuments({ eventId }).exec(), 1);
    });

    it("empties the basket when the order holds every line, and a retried checkout still returns the order", async () => {
      const buyer = await mesh.signUp("order-started-all");
      await call.add(buyer, "pote", 4);
      const request = validCheckout();
      const accepted = await call.checkout(buyer, request);
      await publisher.publish(OrderStarted, { orderId: accepted.orderId, buyerId: buyer.id, checkoutRequestId: request.requestId });
      await waitUntil("the basket emptied", async () => (await call.get(buyer)).basket?.lines.length === 0);
      assert.equal((await call.checkout(buyer, request)).orderId, accepted.orderId);
    });

    it("applies a product's price changes in the order catalog published them, however close together", async () => {
      const buyer = await mesh.signUp("price-in-order");
      await call.add(buyer, "favo", 1);
      const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });
      const prices = [1810, 1820, 1830, 1840, 1850, 1860];
      // Published back to back: the consumer holds them all at once (prefetch), so they are handled side by side.
      let previous = testItems.favo as number;
      const published: string[] = [];
      for (const [index, price] of prices.entries()) {
        published.push(
          await publisher.publish(ProductPriceChanged, { productId: "favo", oldPrice: brl(previous), newPrice: brl(price), priceVersion: index + 2 }),
        );
        previous = price;
      }
      await waitUntil(
        "every price change handled",
        async () => (await mesh.basket.db.inbox.countDocuments({ eventId: { $in: published }, handledAt: { $ne: null } }).exec()) === prices.length,
      );
      const line = (await call.get(buyer)).basket?.lines.find((candidate) => candidate.productId === "favo");
      assert.deepEqual([line?.unitPrice, line?.oldUnitPrice], [brl(1860), brl(testItems.favo)]);
    });

    it("applies a price change once: the same event delivered again after a newer price changes nothing", async () => {
      const buyer = await mesh.signUp("price-redelivered");
      await call.add(buyer, "caneca", 1);
      const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });
      const caneca = async () => (await call.get(buyer)).basket?.lines.find((line) => line.productId === "caneca");
      const first = await publisher.publish(ProductPriceChanged, {
        productId: "caneca",
        oldPrice: brl(testItems.caneca),
        newPrice: brl(testItems.caneca + 100),
        priceVersion: 2,
      });
      await waitUntil("the first new price", async () => (await caneca())?.unitPrice?.amountMinor === testItems.caneca + 100);
      await publisher.publish(ProductPriceChanged, {
        productId: "caneca",
        oldPrice: brl(testItems.caneca + 100),
        newPrice: brl(testItems.caneca + 200),
        priceVersion: 3,
      });
      await waitUntil("the second new price", async () => (await caneca())?.unitPrice?.amountMinor === testItems.caneca + 200);

      // Handled again, the first event would put its older price back: only the inbox stops it.
      await publisher.publish(
        ProductPriceChanged,
        { productId: "caneca", oldPrice: brl(testItems.caneca), newPrice: brl(testItems.caneca + 100), priceVersion: 2 },
        { eventId: first },
      );
      await waitUntilQueueSettled(mesh.basketConfig.queue);
      assert.ok(
        logLines.some((line) => line.includes(first) && line.includes("duplicate event ignored")),
        "the redelivery was ignored as a duplicate",
      );
      const line = await caneca();
      assert.deepEqual([line?.unitPrice, line?.oldUnitPrice], [brl(testItems.caneca + 200), brl(testItems.caneca)]);
      assert.equal(await mesh.basket.db.inbox.countDocuments({ eventId: first }).exec(), 1);
    });
    it("keeps the newer price when an older price change arrives after it (a retry coming back late, another consumer)", async () => {
      const productId = `late-${uniqueName("p").slice(-8)}`;
      await mesh.addProduct(productId, 500);
      const buyer = await mesh.signUp("price-late");
      await call.add(buyer, productId, 1);
      const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });
      const newer = await publisher.publish(ProductPriceChanged, { productId, oldPrice: brl(600), newPrice: brl(700), priceVersion: 3 });
      await waitUntil(
        "the newer change handled",
        async () => (await mesh.basket.db.inbox.countDocuments({ eventId: newer, handledAt: { $ne: null } }).exec()) === 1,
      );
      const older = await publisher.publish(ProductPriceChanged, { productId, oldPrice: brl(500), newPrice: brl(600), priceVersion: 2 });
      await waitUntil(
        "the older change handled",
        async () => (await mesh.basket.db.inbox.countDocuments({ eventId: older, handledAt: { $ne: null } }).exec()) === 1,
      );
      const line = (await call.get(buyer)).basket?.lines.find((candidate) => candidate.productId === productId);
      assert.deepEqual([line?.unitPrice, line?.oldUnitPrice], [brl(700), brl(500)]);
    });

    it("keeps a price learnt when adding against a change older than it", async () => {
      const productId = `learnt-${uniqueName("p").slice(-8)}`;
      await mesh.addProduct(productId, 500);
      const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });
      const admin = await mesh.admin();
      for (const amountMinor of [600, 700]) {
        const { item } = await callUnary(mesh.catalogClient, "getItem", { id: productId });
        assert.ok(item);
        await callUnary(mesh.catalogClient, "updateItem", { item: { ...item, price: brl(amountMinor) }, updateMask: ["price"] }, { metadata: admin });
      }
      const buyer = await mesh.signUp("price-learnt");
      await call.add(buyer, productId, 1);
      // The change to 600 (version 2) again, as a replayed outbox row would send it: older than the 700 the basket read.
      const replayed = await publisher.publish(ProductPriceChanged, { productId, oldPrice: brl(500), newPrice: brl(600), priceVersion: 2 });
      await waitUntil(
        "the replayed change handled",
        async () => (await mesh.basket.db.inbox.countDocuments({ eventId: replayed, handledAt: { $ne: null } }).exec()) === 1,
      );
      const line = (await call.get(buyer)).basket?.lines.find((candidate) => candidate.productId === productId);
      assert.deepEqual([line?.unitPrice, line?.oldUnitPrice], [brl(700), undefined]);
    });
  });
});
