// The basket's environment: defaults, bad values named, the production rule for the payment-token key.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../platform/config/index.js";
import { loadBasketConfig } from "./config.js";

describe("basket config", () => {
  test("defaults to the documented port, MongoDB URL, catalog address and per-line limit", () => {
    const config = loadBasketConfig({});
    assert.equal(config.port, 50053);
    assert.equal(config.mongoUrl, "mongodb://127.0.0.1:27017/mel-basket");
    assert.equal(config.catalogAddress, "127.0.0.1:50052");
    assert.equal(config.rabbitMqUrl, "amqp://guest:guest@127.0.0.1:5672");
    assert.deepEqual(config.limits, { maxLineQuantity: 99, maxLines: 100 });
    assert.equal(config.production, false);
    assert.equal(config.paymentTokenKey, undefined);
  });

  test("holds an outbox claim 60 s unless MEL_BASKET_OUTBOX_CLAIM_TTL says otherwise", () => {
    assert.equal(loadBasketConfig({}).outboxClaimMs, 60_000);
    assert.equal(loadBasketConfig({ MEL_BASKET_OUTBOX_CLAIM_TTL: "3s" }).outboxClaimMs, 3000);
    assert.throws(
      () => loadBasketConfig({ MEL_BASKET_OUTBOX_CLAIM_TTL: "soon" }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((problem) => problem.startsWith("MEL_BASKET_OUTBOX_CLAIM_TTL:")),
    );
  });

  test("accepts a replica-set MongoDB URL and names every bad variable", () => {
    assert.equal(loadBasketConfig({ MEL_BASKET_MONGODB_URL: "mongodb://a:1,b:2/mel?replicaSet=rs0" }).mongoUrl, "mongodb://a:1,b:2/mel?replicaSet=rs0");
    assert.throws(
      () => loadBasketConfig({ MEL_BASKET_MONGODB_URL: "postgres://x", MEL_BASKET_MAX_LINES: "500", MEL_BASKET_PAYMENT_TOKEN_KEY: "short" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((problem) => problem.startsWith("MEL_BASKET_MONGODB_URL:")) &&
        error.problems.some((problem) => problem.startsWith("MEL_BASKET_MAX_LINES:")) &&
        error.problems.some((problem) => problem.startsWith("MEL_BASKET_PAYMENT_TOKEN_KEY:")),
    );
  });

  test("requires MEL_BASKET_PAYMENT_TOKEN_KEY in production", () => {
    for (const env of [{ NODE_ENV: "production" }, { MEL_ENV: "production" }]) {
      assert.throws(() => loadBasketConfig(env), /MEL_BASKET_PAYMENT_TOKEN_KEY: is required in production/);
    }
    const key = "k".repeat(48);
    assert.equal(loadBasketConfig({ NODE_ENV: "production", MEL_BASKET_PAYMENT_TOKEN_KEY: key }).paymentTokenKey, key);
  });
});
