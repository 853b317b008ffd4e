import assert from "node:assert/strict";
import { after, test } from "node:test";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { BadRequest, ErrorInfo, RetryInfo } from "../../gen/google/rpc/error_details.js";
import type { Status } from "../../gen/google/rpc/status.js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { ErrorReason, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "../errors/index.js";
import { callUnary, createClient } from "./client.js";
import { captureLog, rejectionOf, startCatalogServer, type TestServer } from "./grpc.test-support.js";
import { errorDomain, readStatusDetails } from "./status.js";

const servers: TestServer[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});

/** The status details the server sends when GetItem throws `error`. */
async function detailsWhenThrowing(error: unknown): Promise<{ received: ServiceError; status: Status }> {
  const server = await startCatalogServer({
    async getItem() {
      throw error;
    },
  });
  servers.push(server);
  const { client } = createClient(CatalogServiceClient, { upstream: "catalog", target: server.address, logger: captureLog().logger });
  closers.push(() => client.close());
  const received = await rejectionOf(callUnary(client, "getItem", { id: "1" }));
  const status = readStatusDetails(received.metadata);
  assert.ok(status, "grpc-status-details-bin decodes as a google.rpc.Status");
  return { received, status };
}

function detail<T>(status: Status, typeName: string, codec: { decode(bytes: Uint8Array): T }): T[] {
  return status.details.filter((any) => any.typeUrl === `type.googleapis.com/google.rpc.${typeName}`).map((any) => codec.decode(any.value));
}

test("the status details repeat the status code and message", async () => {
  const { received, status } = await detailsWhenThrowing(new NotFoundError("catalog item 7 not found"));
  assert.equal(status.code, GrpcStatus.NOT_FOUND);
  assert.equal(status.message, received.details);
});

test("a typed error without a reason of its own carries its class's general reason", async () => {
  const { status } = await detailsWhenThrowing(new NotFoundError("catalog item 7 not found"));
  assert.deepEqual(detail(status, "ErrorInfo", ErrorInfo), [{ reason: "RESOURCE_NOT_FOUND", domain: errorDomain, metadata: {} }]);
});

test("a typed error's reason and metadata arrive as ErrorInfo", async () => {
  const error = new NotFoundError("products p1 not found in the catalog", { reason: ErrorReason.PRODUCT_UNKNOWN, metadata: { product_ids: "p1" } });
  const { status } = await detailsWhenThrowing(error);
  assert.deepEqual(detail(status, "ErrorInfo", ErrorInfo), [{ reason: "PRODUCT_UNKNOWN", domain: errorDomain, metadata: { product_ids: "p1" } }]);
});

test("an invalid argument names its field as a BadRequest field violation", async () => {
  const { status } = await detailsWhenThrowing(new InvalidArgumentError("item.price.amount_minor", "must be 0 or more (got -5)"));
  assert.deepEqual(
    detail(status, "BadRequest", BadRequest).map((request) =>
      request.fieldViolations.map(({ field, description, reason }) => ({ field, description, reason })),
    ),
    [[{ field: "item.price.amount_minor", description: "must be 0 or more (got -5)", reason: "FIELD_INVALID" }]],
  );
  assert.equal(detail(status, "ErrorInfo", ErrorInfo)[0]?.reason, "FIELD_INVALID");
});

test("an error with a retry delay carries RetryInfo", async () => {
  const error = new ResourceExhaustedError("too many failed sign-ins", { reason: ErrorReason.LOGIN_LOCKED_OUT, retryDelayMs: 90_500 });
  const { status } = await detailsWhenThrowing(error);
  assert.deepEqual(detail(status, "RetryInfo", RetryInfo), [{ retryDelay: { seconds: 90, nanos: 500_000_000 } }]);
});

test("an error without a retry delay carries no RetryInfo", async () => {
  const { status } = await detailsWhenThrowing(new ResourceExhaustedError("batch too large"));
  assert.deepEqual(detail(status, "RetryInfo", RetryInfo), []);
});

test("an unexpected error is INTERNAL with reason INTERNAL_ERROR and nothing else", async () => {
  const { status } = await detailsWhenThrowing(new TypeError("secret column"));
  assert.equal(status.code, GrpcStatus.INTERNAL);
  assert.deepEqual(
    status.details.map((any) => any.typeUrl),
    ["type.googleapis.com/google.rpc.ErrorInfo"],
  );
  assert.equal(detail(status, "ErrorInfo", ErrorInfo)[0]?.reason, "INTERNAL_ERROR");
});
