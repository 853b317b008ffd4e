import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { parseConfig } from "../config/index.js";
import { messagingConfigFrom, messagingEnv } from "./messaging-config.js";

const shippingEnv = z.object({ ...messagingEnv("SHIPPING") });

describe("messagingEnv", () => {
  it("defaults to the local broker, the mel.events exchange and a queue named for the service", () => {
    assert.deepEqual(messagingConfigFrom(parseConfig(shippingEnv, {}), "SHIPPING"), {
      rabbitMqUrl: "amqp://guest:guest@127.0.0.1:5672",
      exchange: "mel.events",
      queue: "shipping.events",
      quorumQueues: false,
      eventPrefetch: 16,
      eventRetryDelaysMs: [1000, 5000, 10_000],
      outboxPollMs: 1000,
      outboxRetentionMs: 7 * 24 * 60 * 60 * 1000,
    });
  });

  it("reads the service's own variables and no other service's", () => {
    const parsed = parseConfig(shippingEnv, {
      MEL_RABBITMQ_URL: "amqps://user:secret@broker.internal:5671/lojas",
      MEL_EVENTS_EXCHANGE: "mel.events.staging",
      MEL_SHIPPING_QUEUE: "shipping.v2",
      MEL_SHIPPING_QUORUM_QUEUES: "yes",
      MEL_SHIPPING_EVENT_PREFETCH: "64",
      MEL_SHIPPING_EVENT_RETRY_DELAYS: "500, 2000",
      MEL_SHIPPING_OUTBOX_POLL_INTERVAL: "250ms",
      MEL_SHIPPING_OUTBOX_RETENTION: "48h",
      MEL_CATALOG_QUEUE: "not-mine",
    });
    assert.deepEqual(messagingConfigFrom(parsed, "SHIPPING"), {
      rabbitMqUrl: "amqps://user:secret@broker.internal:5671/lojas",
      exchange: "mel.events.staging",
      queue: "shipping.v2",
      quorumQueues: true,
      eventPrefetch: 64,
      eventRetryDelaysMs: [500, 2000],
      outboxPollMs: 250,
      outboxRetentionMs: 48 * 60 * 60 * 1000,
    });
  });

  it("takes the service's own default retention of published outbox events", () => {
    const keepsAnHour = z.object({ ...messagingEnv("SHIPPING", { outboxRetentionMs: 3_600_000 }) });
    assert.equal(messagingConfigFrom(parseConfig(keepsAnHour, {}), "SHIPPING").outboxRetentionMs, 3_600_000);
  });

  it("names every bad variable", () => {
    assert.throws(
      () =>
        parseConfig(shippingEnv, {
          MEL_RABBITMQ_URL: "http://broker",
          MEL_SHIPPING_EVENT_PREFETCH: "0",
          MEL_SHIPPING_EVENT_RETRY_DELAYS: "1000,-5",
          MEL_SHIPPING_OUTBOX_RETENTION: "7 days",
        }),
      (error: Error) =>
        /MEL_RABBITMQ_URL: expected a URL starting with amqp: or amqps:/.test(error.message) &&
        /MEL_SHIPPING_EVENT_PREFETCH: expected an integer 1\.\.1000/.test(error.message) &&
        /MEL_SHIPPING_EVENT_RETRY_DELAYS: expected comma-separated positive durations/.test(error.message) &&
        /MEL_SHIPPING_OUTBOX_RETENTION: expected a duration/.test(error.message),
    );
  });
});
