import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect } from "amqplib";
import pino from "pino";
import { ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import { OrderPaymentSucceeded, OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { BrokerProbe, ensureRabbitMq, findQueue, listBindings, listQueues, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { deferred, waitUntil } from "../../test/support/wait.js";
import { createEventBus, type EventBus, type EventMeta, listParkedMessages, PublishError, serviceQueueTopology } from "./index.js";

// Warnings and errors the bus logs, to check what it reports (redeliveries).
const logged: Array<Record<string, unknown>> = [];
const logger = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
const prefix = uniqueName("bus");
const exchange = `${prefix}.events`;
let bus: EventBus;
let probe: BrokerProbe;

before(async () => {
  await ensureRabbitMq();
  bus = await createEventBus({ url: rabbitMqUrl, logger, exchange, publishTimeoutMs: 1000 });
  probe = await BrokerProbe.open();
});

after(async () => {
  await bus?.close();
  await probe?.deleteByPrefix(prefix);
  await probe?.close();
});

const order = (orderId: string) => ({ orderId, buyerId: "buyer-1", checkoutRequestId: `req-${orderId}` });

/** Publishes straight to the exchange, bypassing the bus: for bodies and types the bus would never send. */
function publishRaw(routingKey: string, body: Buffer, properties: { type: string; messageId: string }): void {
  probe.raw.publish(exchange, routingKey, body, { ...properties, persistent: true });
}

describe("publishing", () => {
  test("a published event is a persistent protobuf message with id, type, timestamp and trace headers", async () => {
    const queue = `${prefix}.tap`;
    await bus.declare({ queues: [{ name: queue }], bindings: [{ source: exchange, destination: queue, routingKey: "OrderStarted" }] });
    const before = Math.floor(Date.now() / 1000);
    const eventId = await bus.publish(OrderStarted, order("o-props"), {
      correlationId: "corr-1",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    await probe.waitForReady(queue, 1);
    const message = await probe.raw.get(queue, { noAck: true });
    assert.ok(message);
    assert.equal(message.fields.routingKey, "OrderStarted");
    assert.equal(message.properties.deliveryMode, 2);
    assert.equal(message.properties.contentType, "application/x-protobuf");
    assert.equal(message.properties.messageId, eventId);
    assert.match(eventId, /^[0-9a-f-]{36}$/);
    assert.equal(message.properties.type, "OrderStarted");
    assert.ok(Number(message.properties.timestamp) >= before);
    assert.equal(String(message.properties.headers?.["correlation-id"]), "corr-1");
    assert.equal(String(message.properties.headers?.traceparent), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.deepEqual(OrderStarted.decode(message.content), order("o-props"));
  });

  test("publishing a required event no queue is bound for fails as unroutable", async () => {
    await assert.rejects(
      bus.publish(ProductPriceChanged, { productId: "p-1", oldPrice: undefined, newPrice: undefined, priceVersion: 0 }),
      (error: unknown) => error instanceof PublishError && error.reason === "unroutable" && error.message.includes("ProductPriceChanged"),
    );
  });

  test("publishing a notice no queue is bound for succeeds: it is published without mandatory and nobody wanted it", async () => {
    const eventId = await bus.publish(OrderPaymentSucceeded, { orderId: "o-notice", authorizationId: "auth-1" });
    assert.match(eventId, /^[0-9a-f-]{36}$/);
  });

  test("a notice still reaches a queue that is bound for it", async () => {
    const queue = `${prefix}.notice-tap`;
    await bus.declare({ queues: [{ name: queue }], bindings: [{ source: exchange, destination: queue, routingKey: "OrderPaymentSucceeded" }] });
    const eventId = await bus.publish(OrderPaymentSucceeded, { orderId: "o-notice-bound", authorizationId: "auth-2" });
    await probe.waitForReady(queue, 1);
    const message = await probe.raw.get(queue, { noAck: true });
    assert.ok(message);
    assert.equal(message.properties.messageId, eventId);
    assert.deepEqual(OrderPaymentSucceeded.decode(message.content), { orderId: "o-notice-bound", authorizationId: "auth-2" });
  });

  test("a publish the broker refuses (nack) is an error to the caller", async () => {
    // A queue that rejects publishes once full makes the broker nack them.
    const limited = `${prefix}.limited`;
    const queue = `${prefix}.x.full`;
    await bus.declare({
      exchanges: [{ name: limited, type: "direct" }],
      queues: [{ name: queue, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } }],
      bindings: [{ source: limited, destination: queue, routingKey: "order_new" }],
    });
    await bus.publish(OrderStarted, order("fits"), { exchange: limited, routingKey: "order_new" });
    await assert.rejects(bus.publish(OrderStarted, order("overflows"), { exchange: limited, routingKey: "order_new" }), (error: unknown) => {
      return error instanceof PublishError && error.reason === "nacked" && /refused \(nacked\) OrderStarted/.test(error.message);
    });
    assert.equal(await probe.readyCount(queue), 1);
  });

  test("fanout, direct and headers exchanges route as declared", async () => {
    const fanout = `${prefix}.fanout`;
    const direct = `${prefix}.direct`;
    const headers = `${prefix}.headers`;
    const q = (name: string) => `${prefix}.x.${name}`;
    await bus.declare({
      exchanges: [
        { name: fanout, type: "fanout" },
        { name: direct, type: "direct" },
        { name: headers, type: "headers" },
      ],
      queues: ["orders", "logs", "finance", "urgent"].map((name) => ({ name: q(name) })),
      bindings: [
        { source: fanout, destination: q("orders") },
        { source: fanout, destination: q("logs") },
        { source: direct, destination: q("orders"), routingKey: "order_new" },
        { source: direct, destination: q("orders"), routingKey: "order_upd" },
        { source: direct, destination: q("finance"), routingKey: "order_new" },
        { source: headers, destination: q("urgent"), arguments: { "x-match": "all", priority: "high" } },
      ],
    });
    await bus.publish(OrderStarted, order("f"), { exchange: fanout }); // orders, logs
    await bus.publish(OrderStarted, order("d1"), { exchange: direct, routingKey: "order_new" }); // orders, finance
    await bus.publish(OrderStarted, order("d2"), { exchange: direct, routingKey: "order_upd" }); // orders
    await bus.publish(OrderStarted, order("h"), { exchange: headers, headers: { priority: "high" } }); // urgent
    await assert.rejects(bus.publish(OrderStarted, order("h2"), { exchange: headers, headers: { priority: "low" } }), PublishError);
    assert.equal(await probe.readyCount(q("orders")), 3);
    assert.equal(await probe.readyCount(q("logs")), 1);
    assert.equal(await probe.readyCount(q("finance")), 1);
    assert.equal(await probe.readyCount(q("urgent")), 1);
  });
});

describe("consuming", () => {
  test("declares the work queue, a retry queue per delay and the DLQ, with their arguments and bindings", async () => {
    const queue = `${prefix}.topo.events`;
    const subscription = await bus.subscribe({
      queue,
      retryDelaysMs: [50, 200],
      handlers: { OrderStarted: async () => undefined, OrderPaymentFailed: async () => undefined },
    });
    try {
      const queues = new Map((await listQueues(queue)).map((info) => [info.name, info]));
      assert.deepEqual([...queues.keys()].sort(), [queue, `${queue}.dlq`, `${queue}.retry.200ms`, `${queue}.retry.50ms`]);
      assert.deepEqual(queues.get(queue)?.arguments, { "x-dead-letter-exchange": `${exchange}.dlx`, "x-dead-letter-routing-key": queue });
      assert.equal(queues.get(queue)?.consumers, 1);
      assert.equal(queues.get(queue)?.durable, true);
      assert.deepEqual(queues.get(`${queue}.retry.50ms`)?.arguments, { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue, "x-message-ttl": 50 });
      assert.deepEqual(queues.get(`${queue}.retry.200ms`)?.arguments, {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-message-ttl": 200,
      });
      const bindings = (await listBindings(prefix)).filter((binding) => binding.destination.startsWith(queue));
      assert.deepEqual(bindings.map((binding) => `${binding.source} -> ${binding.destination} [${binding.routingKey}]`).sort(), [
        `${exchange} -> ${queue} [OrderPaymentFailed]`,
        `${exchange} -> ${queue} [OrderStarted]`,
        `${exchange}.dlx -> ${queue}.dlq [${queue}]`,
      ]);
    } finally {
      await subscription.close();
    }
  });

  test("without retryDelaysMs the retry ladder is 1 s, 5 s and 10 s", async () => {
    const queue = `${prefix}.ladder.events`;
    const subscription = await bus.subscribe({ queue, handlers: { OrderStarted: async () => undefined } });
    try {
      const ttls = Object.fromEntries((await listQueues(`${queue}.retry.`)).map((info) => [info.name, info.arguments["x-message-ttl"]]));
      assert.deepEqual(ttls, { [`${queue}.retry.1000ms`]: 1000, [`${queue}.retry.5000ms`]: 5000, [`${queue}.retry.10000ms`]: 10_000 });
    } finally {
      await subscription.close();
    }
  });

  test("quorum queues are declared when asked", async () => {
    const queue = `${prefix}.quorum.events`;
    const subscription = await bus.subscribe({ queue, quorum: true, retryDelaysMs: [50], handlers: { OrderStarted: async () => undefined } });
    try {
      const types = (await listQueues(queue)).map((info) => [info.name, info.type, info.arguments["x-queue-type"]]);
      assert.equal(types.length, 3);
      for (const [name, type, argument] of types) {
        assert.equal(type, "quorum", String(name));
        assert.equal(argument, "quorum", String(name));
      }
    } finally {
      await subscription.close();
    }
  });

  test("subscribing to a queue declared with other arguments fails with the broker's reason", async () => {
    const queue = `${prefix}.conflict.events`;
    await bus.declare({ queues: [{ name: queue }] }); // classic, no dead-letter arguments
    await assert.rejects(bus.subscribe({ queue, handlers: { OrderStarted: async () => undefined } }), (error: unknown) => {
      return error instanceof Error && error.message.includes(`could not start consuming ${queue}`) && error.message.includes("PRECONDITION_FAILED");
    });
  });

  test("a handler gets the typed event and its meta, and the message is acknowledged", async () => {
    const queue = `${prefix}.typed.events`;
    const seen = deferred<{ event: unknown; meta: EventMeta }>();
    const subscription = await bus.subscribe({ queue, handlers: { OrderStarted: async (event, meta) => seen.resolve({ event, meta }) } });
    try {
      const eventId = await bus.publish(OrderStarted, order("o-typed"), { correlationId: "corr-typed", traceparent: "00-abc-def-01" });
      const { event, meta } = await seen.promise;
      assert.deepEqual(event, order("o-typed"));
      assert.equal(meta.eventId, eventId);
      assert.equal(meta.type, "OrderStarted");
      assert.equal(meta.correlationId, "corr-typed");
      assert.equal(meta.traceparent, "00-abc-def-01");
      assert.equal(meta.redelivered, false);
      assert.equal(meta.attempt, 1);
      assert.ok(meta.occurredAt instanceof Date);
      await waitUntil("the message to be acknowledged", async () => (await findQueue(queue))?.messages === 0);
    } finally {
      await subscription.close();
    }
  });

  test("a failing handler is retried down the ladder, then parked with the error, while other events flow", async () => {
    const queue = `${prefix}.poison.events`;
    const poisonAttempts: number[] = [];
    const handled: string[] = [];
    const subscription = await bus.subscribe({
      queue,
      retryDelaysMs: [30, 60],
      handlers: {
        OrderStarted: async (event, meta) => {
          if (event.orderId === "poison") {
            poisonAttempts.push(meta.attempt);
            throw new Error(`cannot start order ${event.orderId}`);
          }
          handled.push(event.orderId);
        },
      },
    });
    try {
      const poisonId = await bus.publish(OrderStarted, order("poison"));
      for (let index = 0; index < 5; index++) await bus.publish(OrderStarted, order(`good-${index}`));
      await probe.waitForReady(`${queue}.dlq`, 1);
      assert.deepEqual(poisonAttempts, [1, 2, 3]);
      await waitUntil("the good events to be handled", () => handled.length === 5);
      assert.deepEqual(handled.sort(), ["good-0", "good-1", "good-2", "good-3", "good-4"]);
      const parked = await probe.raw.get(`${queue}.dlq`, { noAck: true });
      assert.ok(parked);
      assert.equal(parked.properties.messageId, poisonId);
      assert.equal(parked.properties.type, "OrderStarted");
      assert.equal(String(parked.properties.headers?.["x-mel-error"]), "cannot start order poison");
      assert.equal(Number(parked.properties.headers?.["x-mel-attempts"]), 3);
      assert.deepEqual(OrderStarted.decode(parked.content), order("poison"));
      // Each acknowledgement follows its handler (or the parked copy's confirm): wait for the last to land.
      await waitUntil("every message of the work queue acknowledged", async () => (await findQueue(queue))?.messages === 0);
    } finally {
      await subscription.close();
    }
  });

  test("a failed handler's message waits in the next retry queue, persistent and marked as the next attempt", async () => {
    const queue = `${prefix}.waiting.events`;
    let attempts = 0;
    const subscription = await bus.subscribe({
      queue,
      retryDelaysMs: [60_000],
      handlers: {
        OrderStarted: async () => {
          attempts += 1;
          throw new Error("inventory offline");
        },
      },
    });
    try {
      const eventId = await bus.publish(OrderStarted, order("wait"));
      await probe.waitForReady(`${queue}.retry.60000ms`, 1);
      assert.equal(attempts, 1);
      // The original is acknowledged once its copy is confirmed, just after the copy shows up.
      await waitUntil("the original to be acknowledged", async () => (await findQueue(queue))?.messages === 0);
      const waiting = await probe.raw.get(`${queue}.retry.60000ms`, { noAck: true });
      assert.ok(waiting);
      assert.equal(waiting.properties.messageId, eventId);
      assert.equal(waiting.properties.type, "OrderStarted");
      assert.equal(waiting.properties.deliveryMode, 2);
      assert.equal(Number(waiting.properties.headers?.["x-mel-attempt"]), 2);
      assert.deepEqual(OrderStarted.decode(waiting.content), order("wait"));
    } finally {
      await subscription.close();
    }
  });

  test("a message its work queue expires is dead-lettered by the broker into the DLQ and listed with the broker's reason", async () => {
    const queue = `${prefix}.expiring.events`;
    const topology = serviceQueueTopology({ exchange, queue, eventTypes: ["OrderStarted"], retryDelaysMs: [50] });
    // The service topology, with a 30 ms TTL on the work queue and nobody consuming it.
    await bus.declare({ ...topology, queues: (topology.queues ?? []).map((spec) => (spec.name === queue ? { ...spec, messageTtlMs: 30 } : spec)) });
    const eventId = await bus.publish(OrderStarted, order("expired"));
    await probe.waitForReady(`${queue}.dlq`, 1);
    const connection = await connect(rabbitMqUrl);
    try {
      const { total, messages } = await listParkedMessages(connection, queue);
      assert.equal(total, 1);
      assert.equal(messages[0]?.eventId, eventId);
      assert.equal(messages[0]?.type, "OrderStarted");
      assert.equal(messages[0]?.error, "dead-lettered by the broker (expired)");
    } finally {
      await connection.close();
    }
    assert.equal(await probe.readyCount(`${queue}.dlq`), 1, "listing left it parked");
  });

  test("an undecodable body and an event type nobody handles go straight to the DLQ", async () => {
    const queue = `${prefix}.garbage.events`;
    let calls = 0;
    const subscription = await bus.subscribe({
      queue,
      retryDelaysMs: [30],
      handlers: {
        OrderStarted: async () => {
          calls += 1;
        },
      },
    });
    try {
      // Field 1 declared as a 10-byte string with 1 byte present: truncated protobuf.
      publishRaw("OrderStarted", Buffer.from([0x0a, 0x0a, 0x41]), { type: "OrderStarted", messageId: randomUUID() });
      publishRaw("OrderStarted", Buffer.from(OrderStarted.encode(order("x")).finish()), { type: "OrderShippedToMars", messageId: randomUUID() });
      await probe.waitForReady(`${queue}.dlq`, 2);
      const reasons: string[] = [];
      for (let index = 0; index < 2; index++) {
        const parked = await probe.raw.get(`${queue}.dlq`, { noAck: true });
        assert.ok(parked);
        assert.equal(Number(parked.properties.headers?.["x-mel-attempts"]), 1);
        reasons.push(String(parked.properties.headers?.["x-mel-error"]));
      }
      assert.match(reasons.join("\n"), /cannot decode OrderStarted/);
      assert.match(reasons.join("\n"), /no handler for event type "OrderShippedToMars"/);
      assert.equal(calls, 0);
    } finally {
      await subscription.close();
    }
  });

  test("with prefetch 1 each competing consumer holds one message at a time, and the next goes to the idle one", async () => {
    const queue = `${prefix}.workers.events`;
    const perWorker = [0, 0];
    const busy = [0, 0];
    const mostBusy = [0, 0];
    const release = deferred();
    const worker = (index: 0 | 1) => async () => {
      busy[index] = (busy[index] ?? 0) + 1;
      mostBusy[index] = Math.max(mostBusy[index] ?? 0, busy[index] ?? 0);
      await release.promise;
      busy[index] = (busy[index] ?? 0) - 1;
      perWorker[index] = (perWorker[index] ?? 0) + 1;
    };
    const first = await bus.subscribe({ queue, prefetch: 1, handlers: { OrderStarted: worker(0) } });
    const second = await bus.subscribe({ queue, prefetch: 1, handlers: { OrderStarted: worker(1) } });
    try {
      await Promise.all(Array.from({ length: 12 }, (_, index) => bus.publish(OrderStarted, order(`w-${index}`))));
      // Both hold a message and neither is given a second: the other ten wait on the broker.
      await waitUntil("each worker to hold a message", () => busy[0] === 1 && busy[1] === 1);
      assert.equal(await probe.readyCount(queue), 10);
      release.resolve();
      await waitUntil("all 12 events to be handled", () => (perWorker[0] ?? 0) + (perWorker[1] ?? 0) === 12);
      assert.deepEqual(mostBusy, [1, 1]);
    } finally {
      release.resolve();
      await first.close();
      await second.close();
    }
  });

  test("a message delivered again after a lost acknowledgement is flagged redelivered", async () => {
    const queue = `${prefix}.redeliver.events`;
    await bus.declare({ queues: [{ name: queue, deadLetterExchange: `${exchange}.dlx`, deadLetterRoutingKey: queue }] });
    // A consumer that takes the message and goes away without acking it.
    const channel = probe.raw;
    const taken = deferred();
    const eventId = randomUUID();
    channel.sendToQueue(queue, Buffer.from(OrderStarted.encode(order("again")).finish()), { type: "OrderStarted", messageId: eventId, persistent: true });
    const { consumerTag } = await channel.consume(queue, () => taken.resolve(), { noAck: false });
    await taken.promise;
    await channel.cancel(consumerTag);
    await channel.recover(); // Requeues what this channel holds unacknowledged.
    const seen = deferred<EventMeta>();
    const subscription = await bus.subscribe({ queue, handlers: { OrderStarted: async (_event, meta) => seen.resolve(meta) } });
    try {
      const meta = await seen.promise;
      assert.equal(meta.eventId, eventId);
      assert.equal(meta.redelivered, true);
      const warning = logged.find((line) => line.eventId === eventId && line.queue === queue);
      assert.equal(warning?.msg, "redelivered event: it may already have been handled");
      assert.equal(warning?.level, 40, "logged as a warning");
    } finally {
      await subscription.close();
    }
  });
});
