// The bus when its connection misbehaves, without stopping the broker other
// tests share: each bus here reaches the real RabbitMQ through a BrokerProxy
// that can stall the broker's answers or cut the connection.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import pino from "pino";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { BrokerProbe, ensureRabbitMq, listBindings, listExchanges, uniqueName } from "../../test/support/rabbitmq.js";
import { awaitedLater, settle, waitUntil } from "../../test/support/wait.js";
import { BrokerProxy } from "./broker-proxy.test-support.js";
import { createEventBus, type EventBus, PublishError } from "./index.js";

const logger = pino({ level: "silent" });
const prefix = uniqueName("resilience");
const exchange = `${prefix}.events`;
let probe: BrokerProbe;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  await ensureRabbitMq();
  probe = await BrokerProbe.open();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await withinMs(10_000, "closing a proxied bus", cleanup());
});

after(async () => {
  await probe?.deleteByPrefix(prefix);
  await probe?.close();
});

/** `work`, or a rejection naming `what` once `ms` pass: a hung close fails the run instead of stalling it. */
async function withinMs<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const order = (orderId: string) => ({ orderId, buyerId: "buyer", checkoutRequestId: `r-${orderId}` });

async function proxiedBus(publishTimeoutMs: number, busLogger = logger): Promise<{ bus: EventBus; proxy: BrokerProxy }> {
  const proxy = await BrokerProxy.start();
  const bus = await createEventBus({ url: proxy.url, logger: busLogger, exchange, publishTimeoutMs, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
  cleanups.push(async () => {
    // A stalled connection would keep close() waiting for the broker's answers.
    proxy.cutAll();
    await bus.close();
    await proxy.close();
  });
  return { bus, proxy };
}

/** A queue bound to the test exchange for OrderStarted, so publishes are routable. */
async function tap(bus: EventBus, name: string): Promise<string> {
  const queue = `${prefix}.${name}`;
  await bus.declare({ queues: [{ name: queue }], bindings: [{ source: exchange, destination: queue, routingKey: "OrderStarted" }] });
  return queue;
}

test("a publish whose confirm never comes fails with a timeout instead of hanging", async () => {
  const { bus, proxy } = await proxiedBus(300);
  await tap(bus, "stalled");
  proxy.stall();
  const started = Date.now();
  await assert.rejects(bus.publish(OrderStarted, order("no-confirm")), (error: unknown) => {
    return error instanceof PublishError && error.reason === "timeout" && /may or may not have been delivered/.test(error.message);
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 3000, `timed out after ${elapsed} ms, expected about 300 ms`);
});

test("a publish in flight when the connection drops fails at once as channel-closed, not silently and not at its timeout", async () => {
  const { bus, proxy } = await proxiedBus(10_000);
  await tap(bus, "cut");
  proxy.stall();
  const started = Date.now();
  const sentBefore = proxy.bytesFromClients;
  const publishing = awaitedLater(bus.publish(OrderStarted, order("in-flight")));
  await waitUntil("the publish to reach the broker, its confirm held back", () => proxy.bytesFromClients > sentBefore);
  proxy.cutAll();
  await assert.rejects(publishing, (error: unknown) => error instanceof PublishError && error.reason === "channel-closed");
  assert.ok(Date.now() - started < 5000, "the caller learned of the loss long before the 10 s confirm timeout");
});

test("after losing the connection the bus reconnects, declares its topology again and resumes consuming", { timeout: 60_000 }, async () => {
  const { bus, proxy } = await proxiedBus(1000);
  const queue = `${prefix}.ordering.events`;
  const handled: string[] = [];
  const subscription = await bus.subscribe({ queue, retryDelaysMs: [50], handlers: { OrderStarted: async (event) => void handled.push(event.orderId) } });
  cleanups.push(() => subscription.close());
  await bus.publish(OrderStarted, order("before"));
  await waitUntil("the first event to be handled", () => handled.includes("before"));

  // The broker looks down; meanwhile everything the bus declared disappears,
  // as after a broker that came back without its definitions.
  proxy.refuse(true);
  proxy.cutAll();
  await waitUntil("the consumer to be gone from the broker", async () => (await probe.raw.checkQueue(queue)).consumerCount === 0);
  await assert.rejects(bus.publish(OrderStarted, order("while-down")), (error: unknown) => error instanceof PublishError && error.reason === "unavailable");
  for (const name of [queue, `${queue}.retry.50ms`, `${queue}.dlq`]) await probe.raw.deleteQueue(name);
  for (const name of [exchange, `${exchange}.dlx`]) await probe.raw.deleteExchange(name);
  assert.equal(await probe.queueExists(queue), false);

  proxy.refuse(false);
  await waitUntil(
    "the work queue to be declared again with a consumer",
    async () => (await probe.queueExists(queue)) && (await probe.raw.checkQueue(queue)).consumerCount === 1,
    20_000,
    50,
  );
  for (const name of [`${queue}.retry.50ms`, `${queue}.dlq`]) assert.ok(await probe.queueExists(name), `${name} is declared again too`);
  assert.deepEqual((await listExchanges(exchange)).map((info) => [info.name, info.type]).sort(), [
    [exchange, "topic"],
    [`${exchange}.dlx`, "direct"],
  ]);
  const bindings = (await listBindings(exchange)).map((binding) => `${binding.source} -> ${binding.destination} [${binding.routingKey}]`).sort();
  assert.deepEqual(bindings, [`${exchange} -> ${queue} [OrderStarted]`, `${exchange}.dlx -> ${queue}.dlq [${queue}]`]);

  await bus.publish(OrderStarted, order("after"));
  await waitUntil("the event published after reconnecting to be handled", () => handled.includes("after"));
  assert.deepEqual(handled, ["before", "after"]);
});

test("close() finishes when the connection dies while it waits for the broker, and the bus stays closed", { timeout: 20_000 }, async () => {
  // The bus's own log says when it schedules a reconnect or connects: a closed
  // bus must do neither once the connection it was closing dies.
  const linkEvents: string[] = [];
  const recordingLogger = pino({ level: "info" }, { write: (line: string) => linkEvents.push(JSON.parse(line).msg as string) });
  const { bus, proxy } = await proxiedBus(1000, recordingLogger);
  proxy.stall();
  let closed = false;
  const sentBefore = proxy.bytesFromClients;
  const closing = awaitedLater(
    bus.close().then(() => {
      closed = true;
    }),
  );
  await waitUntil("the bus to ask the broker to close", () => proxy.bytesFromClients > sentBefore);
  await settle();
  assert.equal(closed, false, "close() waits for the broker's answers while the connection is alive");
  const acceptedBefore = proxy.accepted;
  const eventsBefore = linkEvents.length;
  proxy.cutAll();
  await withinMs(5000, "close() after the connection died", closing);
  // close() resolves once the client has seen its socket close, which is where
  // a reconnect would be scheduled; let any callbacks of that close run too.
  await waitUntil("the proxy to have no connection left", () => proxy.connections === 0);
  await settle();
  const after = linkEvents.slice(eventsBefore);
  assert.deepEqual(
    after.filter((msg) => /reconnect|connected/i.test(msg)),
    [],
    "a closed bus schedules no reconnect",
  );
  assert.equal(proxy.accepted, acceptedBefore, "a closed bus does not reconnect");
});
