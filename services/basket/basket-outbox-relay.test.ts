// The basket's outbox relay against the MongoDB-protocol test server and real
// RabbitMQ: entries written into basket documents reach the broker with
// confirms, once, and survive a broker restart.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { createEventBus, type EventBus, encodeEvent } from "../../platform/events/index.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, restartBroker, uniqueName } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";
import type { BasketDb, OutboxEntryFields } from "./basket.model.js";
import { findBasketDocument, insertBasketDocument, updateBasket } from "./basket.repository.js";
import { openTestBasketStore, type TestBasketStore } from "./basket.test-support.js";
import { createBasketOutboxRelay } from "./basket-outbox-relay.js";
import { defaultWriteRetry } from "./basket-update.js";

const logger = pino({ level: "silent" });
const prefix = uniqueName("basket-relay");
const exchange = `${prefix}.events`;
/** Durable, so it keeps its messages through the broker restart. */
const seenQueue = `${prefix}.seen`;

/** An outbox entry whose body is an OrderStarted naming `label`, so messages can be told apart. */
function entry(label: string): OutboxEntryFields {
  return {
    eventId: randomUUID(),
    type: "OrderStarted",
    payload: encodeEvent("OrderStarted", { orderId: label, buyerId: "b", checkoutRequestId: "r" }),
    correlationId: `corr-${label}`,
    createdAt: new Date(),
    attempts: 0,
  };
}

describe("basket outbox relay", () => {
  let store: TestBasketStore;
  let db: BasketDb;
  let bus: EventBus;
  let probe: BrokerProbe;

  before(async () => {
    await ensureRabbitMq();
    store = await openTestBasketStore("basket relay");
    db = store.db;
    bus = await createEventBus({ url: rabbitMqUrl, logger, exchange, publishTimeoutMs: 1000, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
    probe = await BrokerProbe.open();
    await probe.raw.assertQueue(seenQueue, { durable: true });
    await probe.raw.bindQueue(seenQueue, exchange, "OrderStarted");
  });

  after(async () => {
    await bus?.close();
    await probe?.close();
    await ensureRabbitMq();
    const cleaner = await BrokerProbe.open();
    await cleaner.deleteByPrefix(prefix);
    await cleaner.close();
    await store?.close();
    await stopMongoServer();
  });

  /** A basket document whose outbox holds `entries`, as checkout leaves it. */
  async function basketWithOutbox(buyerId: string, entries: OutboxEntryFields[]): Promise<void> {
    await insertBasketDocument(db, buyerId, [], new Date());
    assert.ok(await updateBasket(db, buyerId, 1, { outbox: entries }, new Date()));
  }

  /** Takes every ready message off the probe queue: [orderId, messageId, correlationId]. */
  async function drainSeen(): Promise<Array<[string, string, string]>> {
    const seen: Array<[string, string, string]> = [];
    for (let message = await probe.raw.get(seenQueue, { noAck: true }); message; message = await probe.raw.get(seenQueue, { noAck: true })) {
      seen.push([OrderStarted.decode(message.content).orderId, String(message.properties.messageId), String(message.properties.correlationId)]);
    }
    return seen;
  }

  it("publishes a basket's pending entries in order with their ids, marks them sent and then finds nothing", async () => {
    const first = entry("first");
    const second = entry("second");
    await basketWithOutbox("buyer-order", [first, second]);
    const relay = createBasketOutboxRelay({ db, bus, logger, writeRetry: defaultWriteRetry });
    assert.equal(await relay.publishBatch(), 2);
    assert.equal(await relay.publishBatch(), 0);

    await probe.waitForReady(seenQueue, 2);
    assert.deepEqual(await drainSeen(), [
      ["first", first.eventId, "corr-first"],
      ["second", second.eventId, "corr-second"],
    ]);
    const document = await findBasketDocument(db, "buyer-order");
    assert.equal(document?.outboxPending, false);
    assert.equal(document?.outboxClaimedUntil, null);
    assert.ok(document?.outbox.every((sent) => sent.sentAt instanceof Date));
  });

  it("publishes each entry once when two relays (two basket instances) run at the same time", async () => {
    const baskets = Array.from({ length: 20 }, (_, index) => `buyer-two-relays-${index}`);
    for (const buyerId of baskets) await basketWithOutbox(buyerId, [entry(buyerId)]);
    const relays = [1, 2].map(() => createBasketOutboxRelay({ db, bus, logger, writeRetry: defaultWriteRetry, batchSize: 5 }));
    let published = 0;
    await waitUntil("every basket's outbox sent", async () => {
      const counts = await Promise.all(relays.map((relay) => relay.publishBatch()));
      published += counts.reduce((sum, count) => sum + count, 0);
      return (await db.baskets.countDocuments({ outboxPending: true }).exec()) === 0;
    });
    assert.equal(published, 20);
    await probe.waitForReady(seenQueue, 20);
    const seen = await drainSeen();
    assert.deepEqual(seen.map(([orderId]) => orderId).sort(), [...baskets].sort());
  });

  it("forgets inbox entries past the inbox retention and keeps recent ones", async () => {
    const consumer = `relay-test-${randomUUID()}`;
    await db.inbox.create([
      { eventId: "old-event", consumer, handledAt: new Date("2020-01-01T00:00:00Z") },
      { eventId: "recent-event", consumer, handledAt: new Date() },
    ]);
    const relay = createBasketOutboxRelay({
      db,
      bus,
      logger,
      writeRetry: defaultWriteRetry,
      inboxRetentionMs: 60 * 60 * 1000,
      cleanupIntervalMs: 0,
      pollIntervalMs: 50,
    });
    relay.start();
    try {
      await waitUntil("the old inbox entry to be deleted", async () => (await db.inbox.exists({ eventId: "old-event", consumer }).exec()) === null);
      assert.deepEqual(
        (await db.inbox.find({ consumer }).lean().exec()).map((entry) => entry.eventId),
        ["recent-event"],
      );
    } finally {
      await relay.stop();
    }
  });

  it("keeps an entry written while the broker is down and publishes it once the broker is back", { timeout: 120_000 }, async () => {
    const relay = createBasketOutboxRelay({
      db,
      bus,
      logger,
      writeRetry: defaultWriteRetry,
      pollIntervalMs: 100,
      retryInitialDelayMs: 100,
      retryMaxDelayMs: 500,
    });
    relay.start();
    const pending = entry("during-restart");
    try {
      await restartBroker(async () => {
        await basketWithOutbox("buyer-restart", [pending]);
        relay.notify();
        await waitUntil("a failed publish recorded", async () => ((await findBasketDocument(db, "buyer-restart"))?.outbox[0]?.attempts ?? 0) >= 1, 30_000, 50);
        const document = await findBasketDocument(db, "buyer-restart");
        assert.equal(document?.outboxPending, true);
        // The broker went away: no channel, a channel closed under the publish, or no confirm.
        assert.match(document?.outbox[0]?.lastError ?? "", /^(cannot publish OrderStarted |no confirm for OrderStarted )/);
      });
      await waitUntil("the entry sent after the restart", async () => (await findBasketDocument(db, "buyer-restart"))?.outboxPending === false, 60_000, 100);
    } finally {
      await relay.stop();
    }
    // The probe's connection died with the broker: a new one reads the durable queue.
    await probe.close();
    probe = await BrokerProbe.open();
    await probe.waitForReady(seenQueue, 1, 10_000);
    assert.deepEqual(await drainSeen(), [["during-restart", pending.eventId, "corr-during-restart"]]);
  });
});
