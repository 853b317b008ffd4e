import assert from "node:assert/strict";
import { test } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { buildServiceConfig, defaultRetry, defaultRetryThrottling, toChannelTarget } from "./service-config.js";

test("one address is used as is; a list of IPs becomes an ipv4:/ipv6: target for round robin", () => {
  assert.equal(toChannelTarget("catalog:50052"), "catalog:50052");
  assert.equal(toChannelTarget("10.0.0.1:50052, 10.0.0.2:50052"), "ipv4:10.0.0.1:50052,10.0.0.2:50052");
  assert.equal(toChannelTarget("localhost:1,localhost:2"), "ipv4:127.0.0.1:1,127.0.0.1:2");
  assert.equal(toChannelTarget("[::1]:1,[::1]:2"), "ipv6:[::1]:1,[::1]:2");
  assert.equal(toChannelTarget("dns:///catalog.mel.svc:50052"), "dns:///catalog.mel.svc:50052");
});

test("a list of host names is refused with the alternative spelled out", () => {
  assert.throws(() => toChannelTarget("catalog-1:50052,catalog-2:50052"), /use one DNS name that resolves to every instance, e.g. "dns:\/\/\/catalog:50052"/);
});

test("only the idempotent methods get a retry policy, with grpc-js durations and status names", () => {
  const config = buildServiceConfig({
    idempotentMethods: [{ service: "mel.catalog.v1.CatalogService", method: "GetItem" }],
    retry: { ...defaultRetry, initialBackoffMs: 25, retryableStatusCodes: [GrpcStatus.UNAVAILABLE, GrpcStatus.RESOURCE_EXHAUSTED] },
    retryThrottling: defaultRetryThrottling,
  });
  assert.deepEqual(config, {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [
      {
        name: [{ service: "mel.catalog.v1.CatalogService", method: "GetItem" }],
        retryPolicy: {
          maxAttempts: 3,
          initialBackoff: "0.025s",
          maxBackoff: "1.000s",
          backoffMultiplier: 2,
          retryableStatusCodes: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
        },
      },
    ],
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
  });
});

test("maxAttempts below 2 is refused rather than silently ignored", () => {
  assert.throws(
    () => buildServiceConfig({ idempotentMethods: [], retry: { ...defaultRetry, maxAttempts: 1 }, retryThrottling: defaultRetryThrottling }),
    /retry.maxAttempts must be at least 2/,
  );
});
