// Ordering's read side as its clients see it: ordering on loopback (SQLite,
// real RabbitMQ, its read model on the MongoDB-protocol test server) and the
// gateway in front of it. GetOrder answers from the projection once it holds
// the order's latest version and from the write side otherwise, saying which
// in the mel-read-source header (Grpc-Metadata-Mel-Read-Source over
// HTTP/JSON); SearchOrders filters by buyer email and time placed;
// GetSalesPerDay adds up the sales.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { loadGatewayConfig } from "../gateway/config.js";
import { readDescriptorSet } from "../gateway/descriptors.js";
import { type RunningGateway, startGateway } from "../gateway/gateway.js";
import { descriptorPath } from "../gateway/testing/test-stack.js";
import { UserCheckoutAccepted } from "../gen/mel/events/v1/basket_events.js";
import { OrderStockConfirmed } from "../gen/mel/events/v1/catalog_events.js";
import { type GetOrderResponse, OrderingServiceClient, OrderStatus } from "../gen/mel/ordering/v1/ordering.js";
import { createEventBus, type EventBus } from "../platform/events/index.js";
import { callUnary } from "../platform/grpc/index.js";
import { loadOrderingConfig } from "../services/ordering/config.js";
import { type RunningOrdering, startOrdering } from "../services/ordering/main.js";
import { orderToProto } from "../services/ordering/order.mapper.js";
import { findOrder } from "../services/ordering/order.repository.js";
import { findOrderView } from "../services/ordering/order-view.repository.js";
import { createTestTokens, quietLogger, type TestTokens, testCheckout } from "../services/ordering/ordering.test-support.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "./support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "./support/rabbitmq.js";
import { waitUntil } from "./support/wait.js";

describe("ordering's read model through gRPC and the gateway", () => {
  const prefix = uniqueName("order-read-model");
  const dir = mkdtempSync(join(tmpdir(), "mel-order-read-model-"));
  let readModelDb: TestMongoDatabase;
  let ordering: RunningOrdering;
  let gateway: RunningGateway;
  let bus: EventBus;
  let client: OrderingServiceClient;
  let tokens: TestTokens;

  before(async () => {
    await ensureRabbitMq();
    tokens = await createTestTokens();
    readModelDb = await createTestMongoDatabase("order_read_model");
    const config = loadOrderingConfig({
      MEL_LOG_LEVEL: "silent",
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_PORT: "0",
      MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, "ordering.db")}`,
      MEL_ORDERING_MONGODB_URL: readModelDb.url,
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
    bus = await createEventBus({ url: rabbitMqUrl, logger: quietLogger, exchange: prefix, connectionName: "order-read-model-test" });
    client = new OrderingServiceClient(`127.0.0.1:${ordering.port}`, credentials.createInsecure());
    gateway = await startGateway(
      { ...loadGatewayConfig({}), host: "127.0.0.1", port: 0, upstreams: { "mel.ordering.v1.OrderingService": `127.0.0.1:${ordering.port}` } },
      { descriptorSet: readDescriptorSet(descriptorPath), logger: quietLogger },
    );
  });

  after(async () => {
    await gateway?.close();
    client?.close();
    await bus?.close();
    await ordering?.stop();
    await readModelDb?.drop();
    await stopMongoServer();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function metadataFor(subject: string, roles: string[] = []): Promise<Metadata> {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${await tokens.tokenFor(subject, roles)}`);
    return metadata;
  }

  /** GetOrder over gRPC with the response headers it came with. */
  async function getOrder(id: string, subject: string): Promise<{ response: GetOrderResponse; readSource: string | undefined }> {
    const metadata = await metadataFor(subject);
    return new Promise((resolve, reject) => {
      let headers: Metadata | undefined;
      const call = client.getOrder({ id }, metadata, (error: ServiceError | null, response: GetOrderResponse) => {
        if (error) reject(error);
        else resolve({ response, readSource: headers?.get("mel-read-source")[0]?.toString() });
      });
      call.on("metadata", (received: Metadata) => {
        headers = received;
      });
    });
  }

  async function http(path: string, subject: string, roles: string[] = []) {
    const response = await fetch(gateway.url + path, { headers: { authorization: `Bearer ${await tokens.tokenFor(subject, roles)}` } });
    return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
  }

  /** Publishes a checkout as basket would and waits until the projection holds the order awaiting its stock. */
  async function placeOrder(buyerId: string, overrides: Parameters<typeof testCheckout>[0] = {}) {
    const checkout = testCheckout({ buyerId, ...overrides });
    await bus.publish(UserCheckoutAccepted, checkout);
    await waitUntil(`order ${checkout.orderId} awaiting validation in the read model`, async () => {
      const view = await findOrderView(ordering.readModel, checkout.orderId);
      return view?.status === "AWAITING_VALIDATION";
    });
    return checkout;
  }

  it("answers GetOrder from the projection once it holds the order's latest version", async () => {
    const { orderId } = await placeOrder("buyer-projection");
    const { response, readSource } = await getOrder(orderId, "buyer-projection");
    assert.equal(readSource, "projection");
    assert.deepEqual(response.order, orderToProto((await findOrder(ordering.db, orderId))!));
  });

  it("answers GetOrder from the write side for an order the projection has not seen, then from the projection it brought up to date", async () => {
    const { orderId } = await placeOrder("buyer-unseen");
    await ordering.readModel.views.deleteOne({ _id: orderId }).exec();
    const first = await getOrder(orderId, "buyer-unseen");
    assert.equal(first.readSource, "write-side");
    assert.equal(first.response.order?.status, OrderStatus.ORDER_STATUS_AWAITING_VALIDATION);
    const again = await getOrder(orderId, "buyer-unseen");
    assert.equal(again.readSource, "projection");
    assert.deepEqual(again.response.order, first.response.order);
  });

  it("answers GetOrder from the write side when the projection's copy is older than the order", async () => {
    const { orderId } = await placeOrder("buyer-behind");
    await ordering.readModel.views.updateOne({ _id: orderId }, { $set: { version: 1, status: "SUBMITTED" } }).exec();
    const { response, readSource } = await getOrder(orderId, "buyer-behind");
    assert.equal(readSource, "write-side");
    assert.equal(response.order?.status, OrderStatus.ORDER_STATUS_AWAITING_VALIDATION);
  });

  it("passes the read source on through the gateway as Grpc-Metadata-Mel-Read-Source", async () => {
    const { orderId } = await placeOrder("buyer-gateway");
    const fromProjection = await http(`/api/v1/orders/${orderId}`, "buyer-gateway");
    assert.equal(fromProjection.status, 200, JSON.stringify(fromProjection.json));
    assert.equal(fromProjection.headers.get("grpc-metadata-mel-read-source"), "projection");
    assert.equal(fromProjection.json.order.id, orderId);
    await ordering.readModel.views.deleteOne({ _id: orderId }).exec();
    const fromWriteSide = await http(`/api/v1/orders/${orderId}`, "buyer-gateway");
    assert.equal(fromWriteSide.headers.get("grpc-metadata-mel-read-source"), "write-side");
    assert.deepEqual(fromWriteSide.json, fromProjection.json);
  });

  it("finds an admin the orders of one buyer email placed within a time range", async () => {
    const email = `${uniqueName("Buyer")}@Example.com`;
    const before = new Date();
    const first = await placeOrder("buyer-search-email", { buyerEmail: email });
    const second = await placeOrder("buyer-search-email", { buyerEmail: email });
    const between = new Date((await findOrder(ordering.db, second.orderId))!.createTime.getTime());
    await placeOrder("buyer-search-other", { buyerEmail: "someone-else@example.com" });
    const admin = await metadataFor("staff-search", ["admin"]);
    const search = (request: { placedFrom?: Date; placedUntil?: Date }) =>
      callUnary(client, "searchOrders", { status: 0, pageSize: 10, pageToken: "", buyerEmail: email.toUpperCase(), ...request }, { metadata: admin });
    assert.deepEqual(
      (await search({ placedFrom: before })).orders.map((order) => order.id),
      [second.orderId, first.orderId],
    );
    assert.deepEqual(
      (await search({ placedFrom: before, placedUntil: between })).orders.map((order) => order.id),
      [first.orderId],
      "placed_until leaves out the order placed at it",
    );
    assert.equal((await search({ placedFrom: before })).orders[0]?.buyerEmail, email);
  });

  it("adds up a day's sales for an admin through the gateway, and refuses them to a buyer", async () => {
    const checkout = await placeOrder("buyer-sales");
    await bus.publish(OrderStockConfirmed, { orderId: checkout.orderId });
    await waitUntil("the order paid in the read model", async () => (await findOrderView(ordering.readModel, checkout.orderId))?.status === "PAID");
    const day = (await findOrder(ordering.db, checkout.orderId))!.createTime.toISOString().slice(0, 10);
    const sales = await http(`/api/v1/orders/sales/per-day?from_day=${day}&until_day=${day}`, "staff-sales", ["admin"]);
    assert.equal(sales.status, 200, JSON.stringify(sales.json));
    assert.equal(sales.json.days.length, 1);
    assert.equal(sales.json.days[0].day, day);
    // Other tests' orders of today are not paid: this one is the day's only sale.
    assert.deepEqual(sales.json.days[0].byCurrency, [{ currencyCode: "BRL", orderCount: "1", revenueMinor: "4550" }]);
    const refused = await http(`/api/v1/orders/sales/per-day?from_day=${day}&until_day=${day}`, "buyer-sales");
    assert.equal(refused.status, 403);
    await assert.rejects(
      callUnary(client, "getSalesPerDay", { fromDay: day, untilDay: day }, { metadata: await metadataFor("buyer-sales") }),
      (error: ServiceError) => error.code === status.PERMISSION_DENIED,
    );
  });
});
