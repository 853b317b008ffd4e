import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../platform/config/index.js";
import { loadGatewayConfig } from "./config.js";

describe("gateway configuration", () => {
  it("has working defaults for the whole mesh on one machine", () => {
    const config = loadGatewayConfig({});
    assert.equal(config.port, 8080);
    assert.deepEqual(config.upstreams, {
      "mel.identity.v1.IdentityService": "127.0.0.1:50051",
      "mel.catalog.v1.CatalogService": "127.0.0.1:50052",
      "mel.basket.v1.BasketService": "127.0.0.1:50053",
      "mel.ordering.v1.OrderingService": "127.0.0.1:50054",
    });
    assert.deepEqual(config.corsOrigins, []);
    assert.deepEqual(config.authRateLimit.methods, ["mel.identity.v1.IdentityService/Login", "mel.identity.v1.IdentityService/Register"]);
  });

  it("reads every variable", () => {
    const config = loadGatewayConfig({
      MEL_GATEWAY_PORT: "9090",
      MEL_CATALOG_ADDRESS: "catalog.mel.svc:50052",
      MEL_GATEWAY_CORS_ORIGINS: "https://lojasmel.com.br, http://localhost:5173",
      MEL_GATEWAY_AUTH_RATE_LIMIT_MAX: "5",
      MEL_GATEWAY_UPSTREAM_TIMEOUT: "3s",
      MEL_GATEWAY_TRUST_PROXY: "true",
    });
    assert.equal(config.port, 9090);
    assert.equal(config.upstreams["mel.catalog.v1.CatalogService"], "catalog.mel.svc:50052");
    assert.deepEqual(config.corsOrigins, ["https://lojasmel.com.br", "http://localhost:5173"]);
    assert.equal(config.authRateLimit.max, 5);
    assert.equal(config.defaultTimeoutMs, 3000);
    assert.equal(config.trustProxy, true);
  });

  it("names the variable that is wrong", () => {
    assert.throws(
      () => loadGatewayConfig({ MEL_GATEWAY_PORT: "eighty" }),
      (error: unknown) => error instanceof ConfigError && /MEL_GATEWAY_PORT/.test(error.message),
    );
    assert.throws(() => loadGatewayConfig({ MEL_ORDERING_ADDRESS: "no port here" }), /MEL_ORDERING_ADDRESS: expected "host:port"/);
    assert.throws(() => loadGatewayConfig({ MEL_GATEWAY_BODY_LIMIT_BYTES: "-1" }), /MEL_GATEWAY_BODY_LIMIT_BYTES/);
    assert.throws(() => loadGatewayConfig({ MEL_GATEWAY_STREAM_TIMEOUT: "forever" }), /MEL_GATEWAY_STREAM_TIMEOUT/);
  });
});
