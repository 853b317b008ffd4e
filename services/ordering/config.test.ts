// Ordering's environment: the read model's MongoDB URL and timeout, defaults and bad values named.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../platform/config/index.js";
import { loadOrderingConfig } from "./config.js";

describe("ordering config", () => {
  test("defaults the read model to the mel-ordering database of a local MongoDB, waiting 10 s for it", () => {
    const config = loadOrderingConfig({});
    assert.equal(config.mongoUrl, "mongodb://127.0.0.1:27017/mel-ordering");
    assert.equal(config.mongoTimeoutMs, 10_000);
  });

  test("accepts a replica-set or SRV MongoDB URL and names a bad one", () => {
    assert.equal(loadOrderingConfig({ MEL_ORDERING_MONGODB_URL: "mongodb://a:1,b:2/mel?replicaSet=rs0" }).mongoUrl, "mongodb://a:1,b:2/mel?replicaSet=rs0");
    assert.equal(
      loadOrderingConfig({ MEL_ORDERING_MONGODB_URL: "mongodb+srv://mel@cluster.example/mel-ordering" }).mongoUrl,
      "mongodb+srv://mel@cluster.example/mel-ordering",
    );
    assert.throws(
      () => loadOrderingConfig({ MEL_ORDERING_MONGODB_URL: "postgres://x", MEL_ORDERING_MONGODB_TIMEOUT: "soon" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((problem) => problem.startsWith("MEL_ORDERING_MONGODB_URL: expected a MongoDB URL")) &&
        error.problems.some((problem) => problem.startsWith("MEL_ORDERING_MONGODB_TIMEOUT:")),
    );
  });
});
