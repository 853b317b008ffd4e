import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { OrderStockConfirmed } from "../../gen/mel/events/v1/catalog_events.js";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { BrokerProbe, ensureRabbitMq, listQueues, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { createEventBus, type EventBus, PublishError, RemoteRequestError, RequestTimeoutError } from "./index.js";

const prefix = uniqueName("rpc");
let bus: EventBus;

before(async () => {
  await ensureRabbitMq();
  bus = await createEventBus({ url: rabbitMqUrl, logger: pino({ level: "silent" }), exchange: `${prefix}.events`, requestTimeoutMs: 2000 });
});

after(async () => {
  await bus?.close();
  const probe = await BrokerProbe.open();
  await probe.deleteByPrefix(prefix);
  await probe.close();
});

const order = (orderId: string) => ({ orderId, buyerId: "buyer-1", checkoutRequestId: `req-${orderId}` });

describe("request/reply", () => {
  test("a request gets the server's reply, matched by correlation id", async () => {
    const queue = `${prefix}.rpc.stock`;
    const server = await bus.serve({
      queue,
      requestCodec: OrderStarted,
      replyCodec: OrderStockConfirmed,
      handler: async (request) => {
        await new Promise((wake) => setTimeout(wake, request.orderId === "slowish" ? 30 : 1));
        return { orderId: `confirmed:${request.orderId}` };
      },
    });
    try {
      const [slow, fast] = await Promise.all([
        bus.request(queue, OrderStarted, order("slowish"), OrderStockConfirmed),
        bus.request(queue, OrderStarted, order("fast"), OrderStockConfirmed),
      ]);
      assert.deepEqual(slow, { orderId: "confirmed:slowish" });
      assert.deepEqual(fast, { orderId: "confirmed:fast" });
      // Replies came over direct reply-to: the server's request queue is the only queue.
      assert.deepEqual(
        (await listQueues(prefix)).map((info) => [info.name, info.durable, info.consumers]),
        [[queue, false, 1]],
      );
    } finally {
      await server.close();
    }
  });

  test("a slow server times out, a failing one answers with its error, a missing one is unroutable", async () => {
    const queue = `${prefix}.rpc.flaky`;
    const server = await bus.serve({
      queue,
      requestCodec: OrderStarted,
      replyCodec: OrderStockConfirmed,
      handler: async (request) => {
        if (request.orderId === "fail") throw new Error("stock service exploded");
        await new Promise((wake) => setTimeout(wake, 500));
        return { orderId: request.orderId };
      },
    });
    try {
      await assert.rejects(bus.request(queue, OrderStarted, order("slow"), OrderStockConfirmed, { timeoutMs: 100 }), (error: unknown) => {
        return error instanceof RequestTimeoutError && error.message.includes(queue) && error.message.includes("100 ms");
      });
      await assert.rejects(bus.request(queue, OrderStarted, order("fail"), OrderStockConfirmed), (error: unknown) => {
        return error instanceof RemoteRequestError && error.message === "stock service exploded";
      });
      await assert.rejects(bus.request(`${prefix}.rpc.nobody`, OrderStarted, order("x"), OrderStockConfirmed), (error: unknown) => {
        return error instanceof PublishError && error.reason === "unroutable";
      });
    } finally {
      await server.close();
    }
  });
});
