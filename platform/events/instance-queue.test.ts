// Broadcast events on instance queues: every running instance gets every
// event on a queue of its own, which the broker deletes once the instance is
// gone, and a broadcast nobody listens to is not a failed publish.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { type SessionRevoked, SessionRevoked as SessionRevokedCodec } from "../../gen/mel/events/v1/identity_events.js";
import { BrokerProbe, ensureRabbitMq, findQueue, listBindings, listQueues, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";
import { deliveryOf } from "./event-delivery.js";
import { createEventBus, type EventBus, instanceQueueName } from "./index.js";

const logged: Array<Record<string, unknown>> = [];
const logger = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
const prefix = uniqueName("instance");
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

const revoked = (sessionId: string): SessionRevoked => ({
  sessionId,
  userId: "user-1",
  revokeTime: new Date("2030-01-01T00:00:00Z"),
  accessExpireTime: new Date("2030-01-01T00:15:00Z"),
  reason: 1,
});

describe("instance queues", () => {
  test("SessionRevoked is a notice (published without mandatory); order events are required", () => {
    assert.equal(deliveryOf("SessionRevoked"), "notice");
    assert.equal(deliveryOf("OrderStarted"), "required");
  });

  test("publishing a broadcast event no queue is bound for succeeds", async () => {
    const eventId = await bus.publish(SessionRevokedCodec, revoked("nobody-listens"));
    assert.match(eventId, /^[0-9a-f-]{36}$/);
  });

  test("the queue name sits under the service's queue and differs per start", () => {
    const first = instanceQueueName("catalog.events");
    assert.match(first, /^catalog\.events\.instance\.[A-Za-z0-9-]+\.[0-9a-f]{8}$/);
    assert.notEqual(instanceQueueName("catalog.events"), first);
  });

  test("an instance queue is durable, expires when unused, is bound to its event types and has no retry or dead-letter queues", async () => {
    const queue = instanceQueueName(`${prefix}.topo.events`);
    const subscription = await bus.subscribe({ queue, instance: { expiresMs: 60_000 }, handlers: { SessionRevoked: async () => undefined } });
    try {
      const queues = await listQueues(`${prefix}.topo.events`);
      assert.deepEqual(
        queues.map((info) => info.name),
        [queue],
      );
      assert.deepEqual(queues[0]?.arguments, { "x-expires": 60_000 });
      assert.equal(queues[0]?.durable, true);
      assert.equal(queues[0]?.consumers, 1);
      const bindings = (await listBindings(exchange)).filter((binding) => binding.destination === queue);
      assert.deepEqual(
        bindings.map((binding) => `${binding.source} -> ${binding.routingKey}`),
        [`${exchange} -> SessionRevoked`],
      );
    } finally {
      await subscription.close();
    }
  });

  test("every instance receives every broadcast event", async () => {
    const received = new Map<string, string[]>();
    const subscriptions = await Promise.all(
      ["a", "b"].map(async (instance) => {
        received.set(instance, []);
        return bus.subscribe({
          queue: instanceQueueName(`${prefix}.fan.events`),
          instance: {},
          handlers: { SessionRevoked: async (event) => void received.get(instance)?.push(event.sessionId) },
        });
      }),
    );
    try {
      for (const sessionId of ["s1", "s2", "s3"]) await bus.publish(SessionRevokedCodec, revoked(sessionId));
      await waitUntil("both instances to receive the three events", () => [...received.values()].every((ids) => ids.length === 3));
      assert.deepEqual(Object.fromEntries(received), { a: ["s1", "s2", "s3"], b: ["s1", "s2", "s3"] });
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    }
  });

  test("a message its handler fails on is dropped, not retried, and logged with the reason", async () => {
    const queue = instanceQueueName(`${prefix}.drop.events`);
    const handled: string[] = [];
    const subscription = await bus.subscribe({
      queue,
      instance: {},
      handlers: {
        SessionRevoked: async (event) => {
          if (event.sessionId === "poison") throw new Error("cannot take this one");
          handled.push(event.sessionId);
        },
      },
    });
    try {
      const poisonId = await bus.publish(SessionRevokedCodec, revoked("poison"));
      await bus.publish(SessionRevokedCodec, revoked("fine"));
      await waitUntil("the second event to be handled", () => handled.length === 1);
      await waitUntil("the queue to be empty", async () => (await findQueue(queue))?.messages === 0);
      assert.deepEqual(handled, ["fine"]);
      const line = logged.find((entry) => entry.eventId === poisonId);
      assert.equal(line?.msg, "event dropped from the instance queue");
      assert.equal(line?.err, "cannot take this one");
    } finally {
      await subscription.close();
    }
  });

  test("the broker deletes an instance queue once its consumer has been gone for expiresMs", async () => {
    const queue = instanceQueueName(`${prefix}.gone.events`);
    const subscription = await bus.subscribe({ queue, instance: { expiresMs: 500 }, handlers: { SessionRevoked: async () => undefined } });
    assert.ok(await findQueue(queue));
    await subscription.close();
    // Looked at through rabbitmqctl: a passive declare would count as a use and renew the lease.
    await waitUntil("the broker to delete the unused queue", async () => (await findQueue(queue)) === undefined, 15_000, 250);
  });
});
