// Catalog's events for real: PostgreSQL, RabbitMQ, the outbox relay and the
// order-flow consumers, observed on the broker from outside the service.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { credentials, type Metadata } from "@grpc/grpc-js";
import { type ChannelModel, connect } from "amqplib";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import type { OrderStockRejected, ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import {
  OrderCancellationCause,
  OrderStatusChangedToAwaitingValidation,
  OrderStatusChangedToCancelled,
  OrderStatusChangedToPaid,
} from "../../gen/mel/events/v1/ordering_events.js";
import { createEventBus, decodeEvent, type EventBus, type EventName, isEventName } from "../../platform/events/index.js";
import { callUnary } from "../../platform/grpc/index.js";
import { createLogger } from "../../platform/log/index.js";
import { createTestPostgresDatabase, type TestPostgresDatabase } from "../../test/support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, waitUntilQueueSettled } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";
import { createTestTokens, insertTestBrandAndType, insertTestItem, testCatalogConfig } from "./catalog.test-support.js";
import { findItem } from "./item.repository.js";
import { type RunningCatalog, startCatalog } from "./main.js";
import { findReservations } from "./stock-reservation.repository.js";

interface ObservedEvent {
  type: EventName;
  eventId: string;
  event: unknown;
}

/** Every event of `types` published on `exchange`, as a consumer of catalog's events would see it. */
async function observeEvents(connection: ChannelModel, exchange: string, types: EventName[]): Promise<ObservedEvent[]> {
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
  for (const type of types) await channel.bindQueue(queue, exchange, type);
  const observed: ObservedEvent[] = [];
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      const type = String(message.properties.type);
      assert.ok(isEventName(type), `unexpected event type ${type}`);
      observed.push({ type, eventId: String(message.properties.messageId), event: decodeEvent(type, message.content) });
    },
    { noAck: true },
  );
  return observed;
}

/** Log lines written by the catalog under test, parsed, to check how it handled an event (after the broker shows it handled). */
function captureLogs() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    service: "catalog",
    level: "info",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { lines, logger };
}

describe("catalog events on PostgreSQL and RabbitMQ", () => {
  let database: TestPostgresDatabase;
  let catalog: RunningCatalog;
  let publisher: EventBus;
  let connection: ChannelModel;
  let observed: ObservedEvent[];
  let admin: Metadata;
  let client: CatalogServiceClient;
  const logs = captureLogs();
  let config: ReturnType<typeof testCatalogConfig>;
  let tokens: Awaited<ReturnType<typeof createTestTokens>>;

  before(async () => {
    await ensureRabbitMq();
    database = await createTestPostgresDatabase("catalog_events");
    tokens = await createTestTokens();
    config = testCatalogConfig(database.url, { databaseMaxConnections: 8 });
    catalog = await startCatalog({ config, authenticate: tokens.authenticate, logger: logs.logger });
    await insertTestBrandAndType(catalog.db);
    connection = await connect(rabbitMqUrl);
    observed = await observeEvents(connection, config.exchange, ["ProductPriceChanged", "OrderStockConfirmed", "OrderStockRejected"]);
    publisher = await createEventBus({ url: rabbitMqUrl, exchange: config.exchange, logger: createLogger({ service: "ordering-test", level: "silent" }) });
    client = new CatalogServiceClient(`127.0.0.1:${catalog.port}`, credentials.createInsecure());
    admin = await tokens.bearer("admin-1", ["admin"]);
  });

  after(async () => {
    client?.close();
    await publisher?.close();
    await connection?.close();
    await catalog?.stop();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(config.exchange.replace(/\.events$/, ""));
    await probe.close();
    await database?.drop();
  });

  async function outboxDrained(): Promise<void> {
    await waitUntil("every outbox row published", async () => {
      const pending = await catalog.db.selectFrom("outbox").select("id").where("published_at", "is", null).execute();
      return pending.length === 0;
    });
  }

  async function outboxRows(type: EventName): Promise<number> {
    return (await catalog.db.selectFrom("outbox").select("id").where("event_type", "=", type).execute()).length;
  }

  /** Waits until catalog has handled and acknowledged every event sent to it, then checks how it handled `eventId`. */
  async function handled(eventId: string, outcome: string): Promise<void> {
    await waitUntilQueueSettled(config.queue);
    assert.ok(
      logs.lines.some((line) => line.msg === outcome && line.eventId === eventId),
      `catalog logged "${outcome}" for ${eventId}`,
    );
  }

  function answersFor(orderId: string): ObservedEvent[] {
    return observed.filter((entry) => entry.type !== "ProductPriceChanged" && (entry.event as { orderId: string }).orderId === orderId);
  }

  async function stockOf(id: string): Promise<[number, number]> {
    const item = await findItem(catalog.db, id);
    assert.ok(item, `item ${id}`);
    return [item.availableStock, item.reservedStock];
  }

  function awaitingValidation(orderId: string, items: Array<{ productId: string; units: number }>, eventId: string = randomUUID()) {
    return publisher.publish(OrderStatusChangedToAwaitingValidation, { orderId, buyerId: "buyer-1", items }, { eventId });
  }

  it("publishes exactly one ProductPriceChanged with the old and new price", async () => {
    const id = await insertTestItem(catalog.db, "priced-item", 5, { price: { currencyCode: "BRL", amountMinor: 1990 } });
    const { item } = await callUnary(client, "getItem", { id });
    await callUnary(
      client,
      "updateItem",
      { item: { ...item!, price: { currencyCode: "BRL", amountMinor: 2490 } }, updateMask: ["price"] },
      { metadata: admin },
    );
    await callUnary(client, "updateItem", { item: { ...item!, description: "sem mudança de preço" }, updateMask: ["description"] }, { metadata: admin });
    await waitUntil("ProductPriceChanged on the broker", () => observed.some((entry) => entry.type === "ProductPriceChanged"));
    await outboxDrained();
    const changes = observed.filter((entry) => entry.type === "ProductPriceChanged").map((entry) => entry.event as ProductPriceChanged);
    assert.deepEqual(changes, [
      { productId: id, oldPrice: { currencyCode: "BRL", amountMinor: 1990 }, newPrice: { currencyCode: "BRL", amountMinor: 2490 }, priceVersion: 2 },
    ]);
    assert.equal((await findItem(catalog.db, id))?.priceVersion, 2, "the description change kept the price version");
    assert.equal(await outboxRows("ProductPriceChanged"), 1);
  });

  it("reserves every line of an order, answers once and ignores a replayed event", async () => {
    const a = await insertTestItem(catalog.db, "flow-a", 10);
    const b = await insertTestItem(catalog.db, "flow-b", 4);
    const eventId = await awaitingValidation("order-a", [
      { productId: a, units: 2 },
      { productId: b, units: 3 },
    ]);
    await waitUntil("OrderStockConfirmed for order-a", () => answersFor("order-a").length === 1);
    assert.deepEqual(
      answersFor("order-a").map((entry) => [entry.type, entry.event]),
      [["OrderStockConfirmed", { orderId: "order-a" }]],
    );
    assert.deepEqual(
      [await stockOf(a), await stockOf(b)],
      [
        [8, 2],
        [1, 3],
      ],
    );

    await awaitingValidation(
      "order-a",
      [
        { productId: a, units: 2 },
        { productId: b, units: 3 },
      ],
      eventId,
    );
    await handled(eventId, "duplicate event ignored (already processed)");
    await outboxDrained();
    assert.equal(answersFor("order-a").length, 1);
    assert.deepEqual(
      [await stockOf(a), await stockOf(b)],
      [
        [8, 2],
        [1, 3],
      ],
    );
  });

  it("rejects an order that does not fit, naming the short lines, and reserves nothing", async () => {
    const a = await insertTestItem(catalog.db, "short-a", 5);
    const b = await insertTestItem(catalog.db, "short-b", 1);
    await awaitingValidation("order-short", [
      { productId: a, units: 5 },
      { productId: b, units: 2 },
    ]);
    await waitUntil("an answer for order-short", () => answersFor("order-short").length === 1);
    const [answer] = answersFor("order-short");
    assert.equal(answer!.type, "OrderStockRejected");
    assert.deepEqual((answer!.event as OrderStockRejected).shortages, [{ productId: b, requestedUnits: 2, availableUnits: 1 }]);
    assert.deepEqual(
      [await stockOf(a), await stockOf(b)],
      [
        [5, 0],
        [1, 0],
      ],
    );
  });

  it("turns a paid order's reservation into a sale once", async () => {
    const id = await insertTestItem(catalog.db, "paid-item", 10);
    await awaitingValidation("order-paid", [{ productId: id, units: 4 }]);
    await waitUntil("OrderStockConfirmed for order-paid", () => answersFor("order-paid").length === 1);
    const paid = { orderId: "order-paid", buyerId: "buyer-1", items: [{ productId: id, units: 4 }] };
    const eventId = await publisher.publish(OrderStatusChangedToPaid, paid);
    await handled(eventId, "reserved stock sold");
    assert.deepEqual(await stockOf(id), [6, 0]);
    await publisher.publish(OrderStatusChangedToPaid, paid, { eventId });
    await handled(eventId, "duplicate event ignored (already processed)");
    assert.deepEqual(await stockOf(id), [6, 0]);
    assert.deepEqual(
      (await findReservations(catalog.db, "order-paid")).map((row) => row.status),
      ["sold"],
    );
  });

  it("releases a cancelled order's reservation once, and a cancel without one changes nothing", async () => {
    const id = await insertTestItem(catalog.db, "cancel-item", 10);
    await awaitingValidation("order-cancel", [{ productId: id, units: 7 }]);
    await waitUntil("OrderStockConfirmed for order-cancel", () => answersFor("order-cancel").length === 1);
    assert.deepEqual(await stockOf(id), [3, 7]);
    const cancelled = {
      orderId: "order-cancel",
      buyerId: "buyer-1",
      reason: "payment declined",
      items: [{ productId: id, units: 7 }],
      cause: OrderCancellationCause.ORDER_CANCELLATION_CAUSE_PAYMENT_DECLINED,
    };
    const eventId = await publisher.publish(OrderStatusChangedToCancelled, cancelled);
    await handled(eventId, "reserved stock released");
    assert.deepEqual(await stockOf(id), [10, 0]);
    // Same order, new event id: the reservation is already released, so nothing moves.
    const again = await publisher.publish(OrderStatusChangedToCancelled, cancelled);
    await handled(again, "cancelled order held no reservation");
    const never = await publisher.publish(OrderStatusChangedToCancelled, { ...cancelled, orderId: "order-never-reserved" });
    await handled(never, "cancelled order held no reservation");
    assert.deepEqual(await stockOf(id), [10, 0]);
  });

  it("200 orders racing for 50 units on two catalog instances: exactly 50 reserved, every order answered once", async () => {
    const id = await insertTestItem(catalog.db, "contended-item", 50);
    const second = await startCatalog({ config, authenticate: tokens.authenticate, logger: createLogger({ service: "catalog-2", level: "silent" }) });
    try {
      const orderIds = Array.from({ length: 200 }, (_, index) => `race-${String(index).padStart(3, "0")}`);
      await Promise.all(orderIds.map((orderId) => awaitingValidation(orderId, [{ productId: id, units: 1 }])));
      const answered = () => observed.filter((entry) => orderIds.includes((entry.event as { orderId?: string }).orderId ?? ""));
      await waitUntil("an answer for each of the 200 orders", () => answered().length >= 200, 60_000, 25);
      await outboxDrained();

      const answers = answered();
      assert.equal(answers.length, 200, "no order is answered twice");
      assert.deepEqual(new Set(answers.map((entry) => (entry.event as { orderId: string }).orderId)), new Set(orderIds));
      const confirmed = answers.filter((entry) => entry.type === "OrderStockConfirmed");
      const rejected = answers.filter((entry) => entry.type === "OrderStockRejected");
      assert.equal(confirmed.length, 50);
      assert.equal(rejected.length, 150);
      for (const entry of rejected) {
        assert.deepEqual((entry.event as OrderStockRejected).shortages, [{ productId: id, requestedUnits: 1, availableUnits: 0 }]);
      }
      assert.deepEqual(await stockOf(id), [0, 50]);
      const reservations = await catalog.db.selectFrom("stock_reservation").select(["order_id", "units"]).where("product_id", "=", id).execute();
      assert.equal(reservations.length, 50);
      assert.ok(reservations.every((row) => row.units === 1));
      assert.deepEqual(new Set(reservations.map((row) => row.order_id)), new Set(confirmed.map((entry) => (entry.event as { orderId: string }).orderId)));
    } finally {
      await second.stop();
    }
  });
});
