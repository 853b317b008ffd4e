// Basket in front of a catalog that answers with errors: whatever catalog
// says about basket's call to it, the buyer never receives catalog's status
// as if it were basket's own (platform/grpc upstreamFailure).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { credentials, status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { BasketServiceClient } from "../../gen/mel/basket/v1/basket.js";
import { InvalidArgumentError, UnauthenticatedError } from "../../platform/errors/index.js";
import { captureLog, startCatalogServer, type TestServer } from "../../platform/grpc/grpc.test-support.js";
import { type Authenticate, callUnary, readStatusDetails } from "../../platform/grpc/index.js";
import { createTestMongoDatabase, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, uniqueName } from "../../test/support/rabbitmq.js";
import { testBasketConfig } from "./basket.test-support.js";
import { type RunningBasket, startBasket } from "./main.js";

/** What the fake catalog throws from GetItemsByIds, by the product id asked for. */
const catalogAnswers: Record<string, () => unknown> = {
  "catalog-invalid-argument": () => new InvalidArgumentError("ids[0]", "must be a catalog item id"),
  "catalog-unauthenticated": () => new UnauthenticatedError("the access token has expired"),
  "catalog-cancelled": () => ({ code: GrpcStatus.CANCELLED, details: "the server is shutting down" }),
  "catalog-unavailable": () => ({ code: GrpcStatus.UNAVAILABLE, details: "connect ECONNREFUSED 10.0.3.7:50052" }),
};

const buyer = { subject: "buyer-upstream", roles: ["buyer"], token: "t", expiresAt: new Date(Date.now() + 3_600_000) };
const authenticate: Authenticate = async () => buyer;
const log = captureLog("basket");

let catalog: TestServer;
let mongo: TestMongoDatabase;
let basket: RunningBasket;
let client: BasketServiceClient;
let prefix: string;

before(async () => {
  await ensureRabbitMq();
  catalog = await startCatalogServer({
    async getItemsByIds(request) {
      throw catalogAnswers[request.ids[0] ?? ""]!();
    },
  });
  mongo = await createTestMongoDatabase("basket-upstream");
  prefix = uniqueName("basket-upstream");
  const config = testBasketConfig({
    MEL_BASKET_MONGODB_URL: mongo.url,
    MEL_CATALOG_ADDRESS: catalog.address,
    MEL_EVENTS_EXCHANGE: `${prefix}.events`,
    MEL_BASKET_QUEUE: `${prefix}.basket`,
  });
  basket = await startBasket({ config, authenticate, logger: log.logger, catalogBreaker: { consecutiveFailures: 1000 } });
  client = new BasketServiceClient(`127.0.0.1:${basket.port}`, credentials.createInsecure());
});

after(async () => {
  client?.close();
  await basket?.stop();
  await catalog?.stop();
  await mongo?.drop();
  const probe = await BrokerProbe.open();
  await probe.deleteByPrefix(prefix);
  await probe.close();
});

async function addItemFailure(productId: string): Promise<{ error: ServiceError; reason: string | undefined; metadata: Record<string, string> }> {
  const error = await callUnary(client, "addItem", { productId, quantity: 1 }, { metadata: new Metadata() }).then(
    () => assert.fail(`AddItem of ${productId} should fail`),
    (failure: ServiceError) => failure,
  );
  const info = readStatusDetails(error.metadata)?.details.find((any) => any.typeUrl === "type.googleapis.com/google.rpc.ErrorInfo");
  const decoded = info === undefined ? undefined : ErrorInfo.decode(info.value);
  return { error, reason: decoded?.reason, metadata: decoded?.metadata ?? {} };
}

describe("a catalog failure reaches the buyer as basket's own status", () => {
  it("catalog's INVALID_ARGUMENT about basket's request is basket's INTERNAL, naming catalog", async () => {
    const { error, reason, metadata } = await addItemFailure("catalog-invalid-argument");
    assert.deepEqual([GrpcStatus[error.code], error.details], ["INTERNAL", "catalog failed"]);
    assert.deepEqual([reason, metadata.upstream], ["UPSTREAM_FAILED", "catalog"]);
  });

  it("catalog's UNAUTHENTICATED is basket's INTERNAL, not a sign-in problem of the buyer", async () => {
    const { error, reason } = await addItemFailure("catalog-unauthenticated");
    assert.equal(GrpcStatus[error.code], "INTERNAL");
    assert.equal(reason, "UPSTREAM_FAILED");
  });

  it("catalog's CANCELLED, when the buyer did not cancel, is basket's UNAVAILABLE", async () => {
    const { error, reason, metadata } = await addItemFailure("catalog-cancelled");
    assert.equal(GrpcStatus[error.code], "UNAVAILABLE");
    assert.deepEqual([reason, metadata.upstream], ["UPSTREAM_UNAVAILABLE", "catalog"]);
  });

  it("catalog's UNAVAILABLE is basket's UNAVAILABLE without catalog's internal address", async () => {
    const { error, reason } = await addItemFailure("catalog-unavailable");
    assert.equal(GrpcStatus[error.code], "UNAVAILABLE");
    assert.equal(reason, "UPSTREAM_UNAVAILABLE");
    assert.doesNotMatch(error.details, /10\.0\.3\.7/);
  });

  it("logs catalog's original status with the method and the call's correlation id", async () => {
    const metadata = new Metadata();
    metadata.set("x-correlation-id", "upstream-log-check");
    await callUnary(client, "addItem", { productId: "catalog-invalid-argument", quantity: 1 }, { metadata }).catch(() => undefined);
    const line = log.lines.find((entry) => entry.msg === "call to catalog failed" && entry.correlationId === "upstream-log-check");
    assert.ok(line, "the upstream failure is logged");
    assert.deepEqual(
      [line.level, line.upstreamMethod, line.upstreamCode, line.upstreamDetails, line.upstreamReason],
      ["warn", "/mel.catalog.v1.CatalogService/GetItemsByIds", "INVALID_ARGUMENT", "ids[0]: must be a catalog item id", "FIELD_INVALID"],
    );
  });
});
