// OrderingService as its clients see it: the service started with
// startOrdering on port 0, real RabbitMQ (an exchange of its own), SQLite,
// and a gRPC client from gen/. The test publishes what basket and catalog
// would (checkouts, stock answers) and reads what ordering publishes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ClientUnaryCall, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { OrderStockConfirmed, OrderStockRejected } from "../../gen/mel/events/v1/catalog_events.js";
import { OrderCancellationCause } from "../../gen/mel/events/v1/ordering_events.js";
import { OrderingServiceClient, OrderStatus, type Order as ProtoOrder } from "../../gen/mel/ordering/v1/ordering.js";
import { createEventBus, type EventBus, type EventMeta, type EventName } from "../../platform/events/index.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { awaitedLater, waitUntil } from "../../test/support/wait.js";
import { loadOrderingConfig } from "./config.js";
import { type RunningOrdering, startOrdering } from "./main.js";
import { createTestTokens, quietLogger, type TestTokens, testCheckout } from "./ordering.test-support.js";

interface SeenEvent {
  type: EventName;
  orderId: string;
  meta: EventMeta;
  event: Record<string, unknown>;
}

describe("OrderingService over gRPC", () => {
  const prefix = uniqueName("ordering");
  const dir = mkdtempSync(join(tmpdir(), "mel-ordering-grpc-"));
  let ordering: RunningOrdering;
  let readModel: TestMongoDatabase;
  let bus: EventBus;
  let client: OrderingServiceClient;
  let tokens: TestTokens;
  const seen: SeenEvent[] = [];

  before(async () => {
    await ensureRabbitMq();
    readModel = await createTestMongoDatabase("ordering_grpc");
    tokens = await createTestTokens();
    const config = loadOrderingConfig({
      MEL_LOG_LEVEL: "silent",
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_PORT: "0",
      MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, "ordering.db")}`,
      MEL_ORDERING_MONGODB_URL: readModel.url,
      MEL_ORDERING_GRACE_PERIOD: "0",
      MEL_ORDERING_STEP_POLL_INTERVAL: "200",
      MEL_ORDERING_OUTBOX_POLL_INTERVAL: "200",
      MEL_ORDERING_EVENT_RETRY_DELAYS: "50,100",
      MEL_EVENTS_EXCHANGE: prefix,
      MEL_ORDERING_QUEUE: `${prefix}.ordering`,
      MEL_RABBITMQ_URL: rabbitMqUrl,
      MEL_ORDERING_DRAIN_TIMEOUT: "500",
    });
    ordering = await startOrdering({ config, authenticate: tokens.authenticate, logger: quietLogger });
    bus = await createEventBus({ url: rabbitMqUrl, logger: quietLogger, exchange: prefix, connectionName: "ordering-test" });
    const record = (type: EventName) => async (event: { orderId: string }, meta: EventMeta) => {
      seen.push({ type, orderId: event.orderId, meta, event: event as unknown as Record<string, unknown> });
    };
    await bus.subscribe({
      queue: `${prefix}.probe`,
      retryDelaysMs: [50],
      handlers: {
        OrderStarted: record("OrderStarted"),
        OrderStatusChangedToAwaitingValidation: record("OrderStatusChangedToAwaitingValidation"),
        OrderStatusChangedToStockConfirmed: record("OrderStatusChangedToStockConfirmed"),
        OrderPaymentSucceeded: record("OrderPaymentSucceeded"),
        OrderPaymentFailed: record("OrderPaymentFailed"),
        OrderStatusChangedToPaid: record("OrderStatusChangedToPaid"),
        OrderStatusChangedToShipped: record("OrderStatusChangedToShipped"),
        OrderStatusChangedToCancelled: record("OrderStatusChangedToCancelled"),
      },
    });
    client = new OrderingServiceClient(`127.0.0.1:${ordering.port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await bus?.close();
    await ordering?.stop();
    await readModel?.drop();
    await stopMongoServer();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function metadataFor(subject: string | undefined, roles: string[] = []): Promise<Metadata> {
    const metadata = new Metadata();
    if (subject !== undefined) metadata.set("authorization", `Bearer ${await tokens.tokenFor(subject, roles)}`);
    return metadata;
  }

  function unary<Res>(
    start: (metadata: Metadata, callback: (error: ServiceError | null, response: Res) => void) => ClientUnaryCall,
    metadata: Metadata,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      start(metadata, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  const as = {
    getOrder: async (id: string, subject?: string, roles?: string[]) =>
      (await unary<{ order?: ProtoOrder | undefined }>((md, cb) => client.getOrder({ id }, md, cb), await metadataFor(subject, roles))).order as ProtoOrder,
    cancelOrder: async (id: string, subject: string, reason = "", roles?: string[]) =>
      (await unary<{ order?: ProtoOrder | undefined }>((md, cb) => client.cancelOrder({ id, reason }, md, cb), await metadataFor(subject, roles)))
        .order as ProtoOrder,
    shipOrder: async (id: string, subject: string, roles?: string[]) =>
      (await unary<{ order?: ProtoOrder | undefined }>((md, cb) => client.shipOrder({ id }, md, cb), await metadataFor(subject, roles))).order as ProtoOrder,
    listOrders: async (subject: string, pageSize: number, pageToken = "") =>
      unary<{ orders: ProtoOrder[]; nextPageToken: string }>((md, cb) => client.listOrders({ pageSize, pageToken }, md, cb), await metadataFor(subject)),
    searchOrders: async (subject: string, roles: string[], request: { status?: OrderStatus; pageSize?: number; pageToken?: string }) =>
      unary<{ orders: ProtoOrder[]; nextPageToken: string }>(
        (md, cb) =>
          client.searchOrders(
            {
              status: request.status ?? OrderStatus.ORDER_STATUS_UNSPECIFIED,
              pageSize: request.pageSize ?? 0,
              pageToken: request.pageToken ?? "",
              buyerEmail: "",
            },
            md,
            cb,
          ),
        await metadataFor(subject, roles),
      ),
  };

  function rejectsWith(promise: Promise<unknown>, code: status, message?: RegExp) {
    return assert.rejects(promise, (error: ServiceError) => {
      assert.equal(error.code, code, `expected ${status[code]}, got ${status[error.code]}: ${error.details}`);
      if (message) assert.match(error.details, message);
      return true;
    });
  }

  async function waitForStatus(orderId: string, buyerId: string, wanted: OrderStatus): Promise<ProtoOrder> {
    let last: ProtoOrder | undefined;
    await waitUntil(`order ${orderId} to be ${OrderStatus[wanted]} (last seen ${last ? OrderStatus[last.status] : "none"})`, async () => {
      last = await as.getOrder(orderId, buyerId).catch(() => undefined);
      return last?.status === wanted;
    });
    return last as ProtoOrder;
  }

  /** Publishes a checkout as basket would and waits until ordering asked catalog for the stock. */
  async function placeOrder(buyerId: string, overrides: Parameters<typeof testCheckout>[0] = {}, correlationId = uniqueName("corr")) {
    const checkout = testCheckout({ buyerId, ...overrides });
    await bus.publish(UserCheckoutAccepted, checkout, { correlationId });
    await waitForStatus(checkout.orderId, buyerId, OrderStatus.ORDER_STATUS_AWAITING_VALIDATION);
    return { checkout, correlationId };
  }

  async function paidOrder(buyerId: string) {
    const placed = await placeOrder(buyerId);
    await bus.publish(OrderStockConfirmed, { orderId: placed.checkout.orderId }, { correlationId: placed.correlationId });
    await waitForStatus(placed.checkout.orderId, buyerId, OrderStatus.ORDER_STATUS_PAID);
    return placed;
  }

  it("takes a checkout from the broker to PAID, every event carrying the checkout's correlation id", async () => {
    const { checkout, correlationId } = await paidOrder("buyer-flow");
    const expected: EventName[] = [
      "OrderStarted",
      "OrderStatusChangedToAwaitingValidation",
      "OrderStatusChangedToStockConfirmed",
      "OrderPaymentSucceeded",
      "OrderStatusChangedToPaid",
    ];
    await waitUntil("every event of the order", () =>
      expected.every((type) => seen.some((event) => event.orderId === checkout.orderId && event.type === type)),
    );
    const events = seen.filter((event) => event.orderId === checkout.orderId);
    assert.ok(
      events.every((event) => event.meta.correlationId === correlationId),
      `correlation ids: ${events.map((event) => event.meta.correlationId).join(", ")}`,
    );
    const paid = events.find((event) => event.type === "OrderStatusChangedToPaid");
    assert.deepEqual(paid?.event.items, [
      { productId: "product-a", units: 2 },
      { productId: "product-b", units: 1 },
    ]);
    const order = await as.getOrder(checkout.orderId, "buyer-flow");
    assert.deepEqual(
      order.statusHistory.map((change) => change.status),
      [
        OrderStatus.ORDER_STATUS_SUBMITTED,
        OrderStatus.ORDER_STATUS_AWAITING_VALIDATION,
        OrderStatus.ORDER_STATUS_STOCK_CONFIRMED,
        OrderStatus.ORDER_STATUS_PAID,
      ],
    );
    assert.equal(order.paymentMethod?.last4, "4242");
    assert.equal(order.paymentMethod?.paymentToken, "", "the payment token never leaves ordering");
    assert.deepEqual(order.total, { currencyCode: "BRL", amountMinor: 4550 });
  });

  it("makes one order from a checkout delivered twice and published again", async () => {
    const checkout = testCheckout({ buyerId: "buyer-dup" });
    const firstId = await bus.publish(UserCheckoutAccepted, checkout, { eventId: `dup-${checkout.orderId}` });
    await bus.publish(UserCheckoutAccepted, checkout, { eventId: firstId });
    const againId = await bus.publish(UserCheckoutAccepted, checkout);
    await waitForStatus(checkout.orderId, "buyer-dup", OrderStatus.ORDER_STATUS_AWAITING_VALIDATION);
    await waitUntil("both checkout events to be handled", async () => {
      const handled = await ordering.db.selectFrom("inbox").select("event_id").where("event_id", "in", [firstId, againId]).execute();
      return handled.length === 2;
    });
    const { orders } = await as.listOrders("buyer-dup", 10);
    assert.equal(orders.length, 1);
    await waitUntil("OrderStarted", () => seen.some((event) => event.orderId === checkout.orderId && event.type === "OrderStarted"));
    assert.equal(seen.filter((event) => event.orderId === checkout.orderId && event.type === "OrderStarted").length, 1);
  });

  it("cancels on a stock rejection, naming the short items", async () => {
    const { checkout } = await placeOrder("buyer-short");
    await bus.publish(OrderStockRejected, { orderId: checkout.orderId, shortages: [{ productId: "product-b", requestedUnits: 1, availableUnits: 0 }] });
    const order = await waitForStatus(checkout.orderId, "buyer-short", OrderStatus.ORDER_STATUS_CANCELLED);
    assert.match(order.statusHistory.at(-1)?.reason ?? "", /product-b \(wanted 1, available 0\)/);
  });

  it("lists only the caller's orders, newest first, page by page", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push((await placeOrder("buyer-list")).checkout.orderId);
    await placeOrder("buyer-other");
    const seenIds: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await as.listOrders("buyer-list", 2, token);
      assert.ok(page.orders.every((order) => order.buyerId === "buyer-list"));
      seenIds.push(...page.orders.map((order) => order.id));
      token = page.nextPageToken;
      pages += 1;
    } while (token !== "");
    assert.equal(pages, 3);
    assert.deepEqual(seenIds, [...ids].reverse());
  });

  it("searches every buyer's orders of one status for an admin, newest first, page by page", async () => {
    const paid: string[] = [];
    for (const buyerId of ["buyer-search-a", "buyer-search-b", "buyer-search-a"]) paid.push((await paidOrder(buyerId)).checkout.orderId);
    const waiting = (await placeOrder("buyer-search-b")).checkout.orderId;
    const seenOrders: ProtoOrder[] = [];
    let token = "";
    do {
      const page = await as.searchOrders("staff-search", ["admin"], { status: OrderStatus.ORDER_STATUS_PAID, pageSize: 2, pageToken: token });
      assert.ok(page.orders.length <= 2);
      seenOrders.push(...page.orders);
      token = page.nextPageToken;
    } while (token !== "");
    assert.ok(seenOrders.every((order) => order.status === OrderStatus.ORDER_STATUS_PAID));
    // Other tests' paid orders are older: these three come first, newest first.
    assert.deepEqual(
      seenOrders.slice(0, 3).map((order) => order.id),
      [...paid].reverse(),
    );
    assert.deepEqual(
      seenOrders.slice(0, 3).map((order) => order.buyerId),
      ["buyer-search-a", "buyer-search-b", "buyer-search-a"],
    );
    const [newest] = (await as.searchOrders("staff-search", ["admin"], { pageSize: 1 })).orders;
    assert.equal(newest?.id, waiting, "UNSPECIFIED means any status");
  });

  it("refuses SearchOrders to a buyer", async () => {
    await rejectsWith(as.searchOrders("buyer-search-c", [], {}), status.PERMISSION_DENIED);
  });

  it("refuses SearchOrders with a bad status, page size or page token, naming the field", async () => {
    const admin = ["admin"];
    await rejectsWith(as.searchOrders("staff-search", admin, { status: 99 as OrderStatus }), status.INVALID_ARGUMENT, /^status: must be an OrderStatus/);
    await rejectsWith(as.searchOrders("staff-search", admin, { pageSize: 101 }), status.INVALID_ARGUMENT, /^page_size: must be 1 to 100/);
    await rejectsWith(as.searchOrders("staff-search", admin, { pageSize: -1 }), status.INVALID_ARGUMENT, /^page_size: /);
    await rejectsWith(
      as.searchOrders("staff-search", admin, { pageToken: "garbage!" }),
      status.INVALID_ARGUMENT,
      /^page_token: is not a token from a previous SearchOrders response/,
    );
  });

  it("shows an order to its buyer and to admins; to anyone else it does not exist", async () => {
    const { checkout } = await placeOrder("buyer-owner");
    assert.equal((await as.getOrder(checkout.orderId, "buyer-owner")).id, checkout.orderId);
    assert.equal((await as.getOrder(checkout.orderId, "staff-1", ["admin"])).id, checkout.orderId);
    await rejectsWith(as.getOrder(checkout.orderId, "buyer-intruder"), status.NOT_FOUND, /does not exist or is not yours/);
    await rejectsWith(as.getOrder("no-such-order", "buyer-owner"), status.NOT_FOUND);
    await rejectsWith(as.cancelOrder(checkout.orderId, "buyer-intruder"), status.NOT_FOUND);
    assert.equal((await as.getOrder(checkout.orderId, "buyer-owner")).status, OrderStatus.ORDER_STATUS_AWAITING_VALIDATION, "the intruder changed nothing");
  });

  it("refuses calls without a valid token", async () => {
    await rejectsWith(as.getOrder("x", undefined), status.UNAUTHENTICATED);
    const forged = new Metadata();
    forged.set("authorization", "Bearer not.a.token");
    await rejectsWith(
      unary((md, cb) => client.listOrders({ pageSize: 0, pageToken: "" }, md, cb), forged),
      status.UNAUTHENTICATED,
    );
  });

  it("validates ids, page sizes and page tokens", async () => {
    await rejectsWith(as.getOrder("", "buyer-x"), status.INVALID_ARGUMENT, /^id: /);
    await rejectsWith(as.listOrders("buyer-x", 500), status.INVALID_ARGUMENT, /page_size/);
    await rejectsWith(as.listOrders("buyer-x", 10, "garbage!"), status.INVALID_ARGUMENT, /page_token/);
    await rejectsWith(as.cancelOrder("x", "buyer-x", "y".repeat(201)), status.INVALID_ARGUMENT, /reason/);
  });

  it("lets the buyer cancel before payment and tells catalog what to release", async () => {
    const { checkout } = await placeOrder("buyer-cancel");
    const cancelled = await as.cancelOrder(checkout.orderId, "buyer-cancel", "changed my mind");
    assert.equal(cancelled.status, OrderStatus.ORDER_STATUS_CANCELLED);
    assert.equal(cancelled.statusHistory.at(-1)?.reason, "cancelled by the buyer: changed my mind");
    await waitUntil("the cancellation event", () => seen.some((event) => event.orderId === checkout.orderId && event.type === "OrderStatusChangedToCancelled"));
    const event = seen.find((seenEvent) => seenEvent.orderId === checkout.orderId && seenEvent.type === "OrderStatusChangedToCancelled");
    assert.equal((event?.event.items as unknown[] | undefined)?.length, 2);
    assert.equal(event?.event.cause, OrderCancellationCause.ORDER_CANCELLATION_CAUSE_BUYER);
    await rejectsWith(as.cancelOrder(checkout.orderId, "buyer-cancel"), status.FAILED_PRECONDITION, /is CANCELLED and cannot become CANCELLED/);
  });

  it("refuses to cancel a paid order, naming both statuses", async () => {
    const { checkout } = await paidOrder("buyer-late");
    await rejectsWith(as.cancelOrder(checkout.orderId, "buyer-late"), status.FAILED_PRECONDITION, /is PAID and cannot become CANCELLED/);
    assert.equal((await as.getOrder(checkout.orderId, "buyer-late")).status, OrderStatus.ORDER_STATUS_PAID);
  });

  it("ships paid orders only, and only for admins", async () => {
    const waiting = await placeOrder("buyer-ship");
    await rejectsWith(
      as.shipOrder(waiting.checkout.orderId, "staff-2", ["admin"]),
      status.FAILED_PRECONDITION,
      /is AWAITING_VALIDATION and cannot become SHIPPED: only an order that is PAID can/,
    );
    const { checkout } = await paidOrder("buyer-ship");
    await rejectsWith(as.shipOrder(checkout.orderId, "buyer-ship"), status.PERMISSION_DENIED);
    const shipped = await as.shipOrder(checkout.orderId, "staff-2", ["admin"]);
    assert.equal(shipped.status, OrderStatus.ORDER_STATUS_SHIPPED);
    await waitUntil("OrderStatusChangedToShipped", () =>
      seen.some((event) => event.orderId === checkout.orderId && event.type === "OrderStatusChangedToShipped"),
    );
  });

  it("streams the order at once, then each status change, and ends when it is final", async () => {
    const { checkout, correlationId } = await placeOrder("buyer-watch");
    const call = client.watchOrder({ id: checkout.orderId }, await metadataFor("buyer-watch"));
    const received: OrderStatus[] = [];
    const ended = awaitedLater(
      new Promise<void>((resolve, reject) => {
        call.on("data", (message: { order?: ProtoOrder }) => {
          received.push(message.order?.status ?? OrderStatus.ORDER_STATUS_UNSPECIFIED);
        });
        call.on("end", resolve);
        call.on("error", reject);
      }),
    );
    await waitUntil("the current order", () => received.length === 1);
    assert.deepEqual(received, [OrderStatus.ORDER_STATUS_AWAITING_VALIDATION]);
    await bus.publish(OrderStockConfirmed, { orderId: checkout.orderId }, { correlationId });
    await waitUntil("PAID on the stream", () => received.includes(OrderStatus.ORDER_STATUS_PAID));
    await as.shipOrder(checkout.orderId, "staff-3", ["admin"]);
    await ended;
    assert.deepEqual(received, [
      OrderStatus.ORDER_STATUS_AWAITING_VALIDATION,
      OrderStatus.ORDER_STATUS_STOCK_CONFIRMED,
      OrderStatus.ORDER_STATUS_PAID,
      OrderStatus.ORDER_STATUS_SHIPPED,
    ]);
  });

  it("stops watching when the client goes away", async () => {
    const { checkout } = await placeOrder("buyer-leaves");
    const before = ordering.watchers();
    const call = client.watchOrder({ id: checkout.orderId }, await metadataFor("buyer-leaves"));
    call.on("error", () => undefined);
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    assert.equal(ordering.watchers(), before + 1);
    call.cancel();
    await waitUntil("the watch to end on the server", () => ordering.watchers() === before);
  });

  it("does not let anyone else watch an order", async () => {
    const { checkout } = await placeOrder("buyer-private");
    const call = client.watchOrder({ id: checkout.orderId }, await metadataFor("buyer-snoop"));
    const error = await new Promise<ServiceError>((resolve) => {
      call.on("data", () => undefined);
      call.on("error", resolve);
    });
    assert.equal(error.code, status.NOT_FOUND);
  });
});
