import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Client, type ClientReadableStream, credentials, status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { CatalogItem, CatalogServiceClient, CatalogServiceService, CreateItemRequest } from "../../gen/mel/catalog/v1/catalog.js";
import { Order, OrderingServiceClient, OrderingServiceService, type WatchOrderResponse } from "../../gen/mel/ordering/v1/ordering.js";
import { waitUntil } from "../../test/support/wait.js";
import {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from "../errors/index.js";
import { createLogger } from "../log/index.js";
import type { CallContext, Principal } from "./call-context.js";
import { callUnary, createClient } from "./client.js";
import { captureLog, item, rejectionOf, startCatalogServer, startTestServer, type TestServer } from "./grpc.test-support.js";
import { type Authenticate, implementService } from "./implement-service.js";
import { createGrpcServer } from "./server.js";

const servers: TestServer[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});

function clientFor(address: string) {
  const { client } = createClient(CatalogServiceClient, { upstream: "catalog", target: address, logger: captureLog().logger });
  closers.push(() => client.close());
  return client;
}

describe("errors become statuses", () => {
  const typedErrors: [Error, GrpcStatus, string][] = [
    [
      new InvalidArgumentError("item.price.amount_minor", "must be 0 or more (got -5)"),
      GrpcStatus.INVALID_ARGUMENT,
      "item.price.amount_minor: must be 0 or more (got -5)",
    ],
    [new NotFoundError("catalog item 7 not found"), GrpcStatus.NOT_FOUND, "catalog item 7 not found"],
    [new AlreadyExistsError("an account with this email exists"), GrpcStatus.ALREADY_EXISTS, "an account with this email exists"],
    [new FailedPreconditionError("order 3 is PAID and cannot be cancelled"), GrpcStatus.FAILED_PRECONDITION, "order 3 is PAID and cannot be cancelled"],
    [new PermissionDeniedError("needs admin"), GrpcStatus.PERMISSION_DENIED, "needs admin"],
    [new UnauthenticatedError("token expired"), GrpcStatus.UNAUTHENTICATED, "token expired"],
    [new ResourceExhaustedError("too many attempts"), GrpcStatus.RESOURCE_EXHAUSTED, "too many attempts"],
    [new UnavailableError("database down"), GrpcStatus.UNAVAILABLE, "database down"],
    [new AbortedError("item kept changing; try again"), GrpcStatus.ABORTED, "item kept changing; try again"],
    [new DeadlineExceededError("payment gateway too slow"), GrpcStatus.DEADLINE_EXCEEDED, "payment gateway too slow"],
  ];

  test("each platform/errors class arrives as its status with its message", async () => {
    const server = await startCatalogServer({
      async getItem(request) {
        throw typedErrors[Number(request.id)]![0];
      },
    });
    servers.push(server);
    const client = clientFor(server.address);
    for (const [index, [error, code, details]] of typedErrors.entries()) {
      const received = await rejectionOf(callUnary(client, "getItem", { id: String(index) }));
      assert.equal(received.code, code, `${error.name} → ${GrpcStatus[code]}`);
      assert.equal(received.details, details);
    }
  });

  test("an unknown error becomes INTERNAL with a generic message, logged with the method path and stack", async () => {
    const log = captureLog("catalog");
    const server = await startCatalogServer(
      {
        async getItem() {
          throw new TypeError("cannot read properties of undefined (reading 'secretColumn')");
        },
      },
      { logger: log.logger },
    );
    servers.push(server);
    const received = await rejectionOf(callUnary(clientFor(server.address), "getItem", { id: "1" }));
    assert.equal(received.code, GrpcStatus.INTERNAL);
    assert.equal(received.details, "internal error");
    const logged = log.lines.find((line) => line.msg === "unexpected error in /mel.catalog.v1.CatalogService/GetItem");
    assert.ok(logged, "the unexpected error is logged");
    assert.equal(logged.method, "/mel.catalog.v1.CatalogService/GetItem");
    assert.match(String((logged.err as { stack?: string }).stack), /TypeError: cannot read properties of undefined[\s\S]*implement-service\.test\.ts/);
  });

  test("an error carrying a gRPC status (an upstream's answer) passes through", async () => {
    const server = await startCatalogServer({
      async getItem() {
        throw { code: GrpcStatus.RESOURCE_EXHAUSTED, details: "upstream quota", metadata: new Metadata() };
      },
    });
    servers.push(server);
    const received = await rejectionOf(callUnary(clientFor(server.address), "getItem", { id: "1" }));
    assert.equal(received.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(received.details, "upstream quota");
  });
});

describe("request bodies", () => {
  const passThrough = (bytes: Buffer): Buffer => bytes;

  /** Sends `body` as the request of `path` byte for byte, as the gateway's gRPC-Web proxy does. */
  function sendRaw(address: string, path: string, body: Uint8Array): Promise<ServiceError | undefined> {
    const client = new Client(address, credentials.createInsecure());
    closers.push(() => client.close());
    return new Promise((resolve) => {
      client.makeUnaryRequest(path, passThrough, passThrough, Buffer.from(body), new Metadata(), { deadline: Date.now() + 5000 }, (error) =>
        resolve(error ?? undefined),
      );
    });
  }

  test("a body that is not the request message answers INVALID_ARGUMENT naming the request type, and the handler never runs", async () => {
    let handled = 0;
    const server = await startCatalogServer({
      async getItem() {
        handled += 1;
        return {};
      },
    });
    servers.push(server);
    const error = await sendRaw(server.address, "/mel.catalog.v1.CatalogService/GetItem", Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    assert.equal(error?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(error?.details, "request body is not a valid mel.catalog.v1.GetItemRequest (premature EOF)");
    assert.equal(handled, 0);
  });

  test("an int64 past 2^53, which the generated code cannot hold as a number, answers INVALID_ARGUMENT", async () => {
    const server = await startCatalogServer({ createItem: async () => ({}) });
    servers.push(server);
    const body = CreateItemRequest.encode({ item: CatalogItem.fromPartial({ id: "x", price: { amountMinor: 2 ** 53, currencyCode: "BRL" } }) }).finish();
    const error = await sendRaw(server.address, "/mel.catalog.v1.CatalogService/CreateItem", body);
    assert.equal(error?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(error?.details, "request body is not a valid mel.catalog.v1.CreateItemRequest (Value is larger than Number.MAX_SAFE_INTEGER)");
  });

  test("an undecodable body on a method that needs a token answers UNAUTHENTICATED when none came", async () => {
    const authenticate: Authenticate = async () => undefined;
    const server = await startCatalogServer({ createItem: async () => ({}) }, { policies: { createItem: { role: "admin" } }, authenticate });
    servers.push(server);
    const error = await sendRaw(server.address, "/mel.catalog.v1.CatalogService/CreateItem", Buffer.from([0x0f]));
    assert.equal(error?.code, GrpcStatus.UNAUTHENTICATED);
  });

  test("a server-streaming method's undecodable body answers INVALID_ARGUMENT", async () => {
    const server = await startTestServer(OrderingServiceService, {
      async *watchOrder() {
        yield {};
      },
    });
    servers.push(server);
    const client = new Client(server.address, credentials.createInsecure());
    closers.push(() => client.close());
    const stream = client.makeServerStreamRequest(
      "/mel.ordering.v1.OrderingService/WatchOrder",
      passThrough,
      passThrough,
      Buffer.from([0x0a, 0x10]),
      new Metadata(),
      {
        deadline: Date.now() + 5000,
      },
    );
    stream.on("data", () => {});
    const error = await new Promise<ServiceError>((resolve) => stream.on("error", resolve));
    assert.equal(error.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(error.details, "request body is not a valid mel.ordering.v1.WatchOrderRequest (premature EOF)");
  });

  test("createGrpcServer serves only implementations from implementService, which decode their own requests", () => {
    const server = createGrpcServer({ serviceName: "test", logger: captureLog().logger });
    assert.throws(() => server.addService(CatalogServiceService, { getItem: () => {} }), /serve implementations made by implementService/);
  });
});

describe("access policies", () => {
  const admin: Principal = { subject: "u-admin", roles: ["admin"], token: "admin-token", expiresAt: new Date(Date.now() + 60_000) };
  const buyer: Principal = { subject: "u-buyer", roles: ["buyer"], token: "buyer-token", expiresAt: new Date(Date.now() + 60_000) };
  // Stands in for platform/auth: throws on a missing token, knows two tokens.
  const authenticate: Authenticate = async (metadata, policy) => {
    const [header] = metadata.get("authorization");
    if (header === undefined) {
      if (policy === "public") return undefined;
      throw new UnauthenticatedError('missing "authorization: Bearer <token>" metadata');
    }
    return header === "Bearer admin-token" ? admin : header === "Bearer buyer-token" ? buyer : undefined;
  };
  let server: TestServer;
  const principals: (Principal | undefined)[] = [];

  async function start() {
    server ??= await startCatalogServer(
      {
        async getItem(request, ctx) {
          principals.push(ctx.principal);
          return { item: item(request.id) };
        },
        async createItem(request, ctx) {
          principals.push(ctx.principal);
          return { item: request.item };
        },
        async listBrands(_request, ctx) {
          principals.push(ctx.principal);
          return { brands: [] };
        },
      },
      { policies: { getItem: "public", createItem: { role: "admin" }, listBrands: "authenticated" }, authenticate },
    );
    servers.push(server);
    return clientFor(server.address);
  }
  const bearer = (token: string) => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return metadata;
  };

  test("a missing token on an admin method is UNAUTHENTICATED, from the authenticate function", async () => {
    const client = await start();
    const received = await rejectionOf(callUnary(client, "createItem", { item: item("n") }));
    assert.equal(received.code, GrpcStatus.UNAUTHENTICATED);
    assert.equal(received.details, 'missing "authorization: Bearer <token>" metadata');
  });

  test("an unknown token on an authenticated method is UNAUTHENTICATED", async () => {
    const client = await start();
    const received = await rejectionOf(callUnary(client, "listBrands", {}, { metadata: bearer("forged") }));
    assert.equal(received.code, GrpcStatus.UNAUTHENTICATED);
  });

  test("a signed-in caller without the role is PERMISSION_DENIED", async () => {
    const client = await start();
    const received = await rejectionOf(callUnary(client, "createItem", { item: item("n") }, { metadata: bearer("buyer-token") }));
    assert.equal(received.code, GrpcStatus.PERMISSION_DENIED);
    assert.match(received.details, /"admin" role/);
  });

  test("a caller with the role reaches the handler, which sees the principal", async () => {
    const client = await start();
    principals.length = 0;
    const response = await callUnary(client, "createItem", { item: item("n1") }, { metadata: bearer("admin-token") });
    assert.equal(response.item?.id, "n1");
    assert.equal(principals[0]?.subject, "u-admin");
  });

  test("a public method runs without a token and sees no principal", async () => {
    const client = await start();
    principals.length = 0;
    await callUnary(client, "getItem", { id: "p" });
    assert.deepEqual(principals, [undefined]);
  });

  test("a method without a policy is a startup error naming it", () => {
    const handlers = Object.fromEntries(Object.keys(CatalogServiceService).map((name) => [name, async () => ({})]));
    const { adjustStock: _left, ...policies } = Object.fromEntries(Object.keys(CatalogServiceService).map((name) => [name, "public" as const]));
    assert.throws(
      () => implementService(CatalogServiceService, handlers as never, { policies: policies as never, logger: captureLog().logger }),
      /cannot implement mel\.catalog\.v1\.CatalogService:\n {2}adjustStock: no access policy/,
    );
  });

  test("a non-public policy without an authenticate function is a startup error", () => {
    const handlers = Object.fromEntries(Object.keys(CatalogServiceService).map((name) => [name, async () => ({})]));
    const policies = Object.fromEntries(Object.keys(CatalogServiceService).map((name) => [name, name === "deleteItem" ? { role: "admin" } : "public"]));
    assert.throws(
      () => implementService(CatalogServiceService, handlers as never, { policies: policies as never, logger: captureLog().logger }),
      /deleteItem: policy \{"role":"admin"\} needs an authenticate function/,
    );
  });
});

describe("call context", () => {
  test("carries the method, correlation id, traceparent and deadline, and logs one line per call", async () => {
    const log = captureLog("catalog");
    let seen: CallContext | undefined;
    const server = await startCatalogServer(
      {
        async getItem(request, ctx) {
          seen = ctx;
          ctx.log.info("inside the handler");
          return { item: item(request.id) };
        },
      },
      { logger: log.logger },
    );
    servers.push(server);
    const metadata = new Metadata();
    metadata.set("x-correlation-id", "req-123");
    metadata.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    await callUnary(clientFor(server.address), "getItem", { id: "1" }, { metadata, deadline: new Date(Date.now() + 3000) });
    assert.equal(seen?.method, "/mel.catalog.v1.CatalogService/GetItem");
    assert.equal(seen.correlationId, "req-123");
    assert.equal(seen.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert.ok(seen.deadline instanceof Date);
    assert.equal(seen.signal.aborted, false);
    const inside = log.lines.find((line) => line.msg === "inside the handler");
    assert.equal(inside?.correlationId, "req-123");
    const callLines = log.lines.filter((line) => line.msg === "grpc call");
    assert.equal(callLines.length, 1);
    assert.equal(callLines[0]?.method, "/mel.catalog.v1.CatalogService/GetItem");
    assert.equal(callLines[0]?.code, "OK");
    assert.equal(typeof callLines[0]?.durationMs, "number");
    assert.equal(callLines[0]?.service, "catalog");
  });

  test("a successful call writes no line at the info level", async () => {
    const raw: string[] = [];
    const logger = createLogger({ service: "catalog", level: "info", destination: { write: (line: string) => void raw.push(line) } });
    const server = await startCatalogServer({ getItem: async (request) => ({ item: item(request.id) }) }, { logger });
    servers.push(server);
    await callUnary(clientFor(server.address), "getItem", { id: "1" });
    assert.deepEqual(
      raw.filter((text) => text.includes('"grpc call"')),
      [],
    );
  });

  test("a call slower than the logger's threshold is logged at warn with its correlation id", async () => {
    const raw: string[] = [];
    const logger = createLogger({ service: "catalog", level: "info", slowCallMs: 0, destination: { write: (line: string) => void raw.push(line) } });
    const server = await startCatalogServer({ getItem: async (request) => ({ item: item(request.id) }) }, { logger });
    servers.push(server);
    const metadata = new Metadata();
    metadata.set("x-correlation-id", "req-slow");
    await callUnary(clientFor(server.address), "getItem", { id: "1" }, { metadata });
    const [line] = raw.map((text) => JSON.parse(text) as Record<string, unknown>).filter((entry) => entry.msg === "grpc call");
    assert.equal(line?.level, "warn");
    assert.equal(line?.code, "OK");
    assert.equal(line?.correlationId, "req-slow");
  });

  test("a unary handler's ctx.signal aborts with CancelledError when the caller cancels, and the call is logged CANCELLED", async () => {
    const log = captureLog("catalog");
    let entered: () => void = () => undefined;
    const handlerEntered = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let reason: unknown;
    const server = await startCatalogServer(
      {
        async getItem(_request, ctx) {
          const aborted = new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          entered();
          await aborted;
          reason = ctx.signal.reason;
          return {};
        },
      },
      { logger: log.logger },
    );
    servers.push(server);
    const client = new CatalogServiceClient(server.address, credentials.createInsecure());
    closers.push(() => client.close());
    const answered = new Promise<ServiceError | null>((resolve) => {
      const call = client.getItem({ id: "1" }, (error) => resolve(error));
      void handlerEntered.then(() => call.cancel());
    });
    assert.equal((await answered)?.code, GrpcStatus.CANCELLED);
    await waitUntil("the handler to see the abort", () => reason !== undefined);
    assert.ok(reason instanceof CancelledError, `aborted with ${String(reason)}`);
    await waitUntil("the call's log line", () => log.lines.some((line) => line.msg === "grpc call"));
    assert.equal(log.lines.find((line) => line.msg === "grpc call")?.code, "CANCELLED");
  });

  test("a handler that first asks for ctx.signal after the deadline finds it aborted with DeadlineExceededError", async () => {
    const log = captureLog("catalog");
    let reason: unknown;
    let abortedWhenAsked: boolean | undefined;
    const server = await startCatalogServer(
      {
        async getItem(_request, ctx) {
          const deadline = ctx.deadline?.getTime() ?? 0;
          await waitUntil("the deadline to pass", () => Date.now() > deadline);
          abortedWhenAsked = ctx.signal.aborted;
          reason = ctx.signal.reason;
          return {};
        },
      },
      { logger: log.logger },
    );
    servers.push(server);
    const error = await rejectionOf(callUnary(clientFor(server.address), "getItem", { id: "1" }, { deadline: new Date(Date.now() + 150) }));
    assert.equal(error.code, GrpcStatus.DEADLINE_EXCEEDED);
    await waitUntil("the call's log line", () => log.lines.some((line) => line.msg === "grpc call"));
    assert.equal(abortedWhenAsked, true);
    assert.ok(reason instanceof DeadlineExceededError, `aborted with ${String(reason)}`);
    assert.equal(log.lines.find((line) => line.msg === "grpc call")?.code, "DEADLINE_EXCEEDED");
  });

  test("a malformed correlation id is replaced by a generated one", async () => {
    let correlationId: string | undefined;
    const server = await startCatalogServer({
      async getItem(_request, ctx) {
        correlationId = ctx.correlationId;
        return {};
      },
    });
    servers.push(server);
    const metadata = new Metadata();
    metadata.set("x-correlation-id", 'forged","level":"fatal');
    await callUnary(clientFor(server.address), "getItem", { id: "1" }, { metadata });
    assert.match(correlationId ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe("server streaming", () => {
  async function startOrdering(watchOrder: NonNullable<Parameters<typeof startTestServer<typeof OrderingServiceService>>[1]["watchOrder"]>) {
    const server = await startTestServer(OrderingServiceService, { watchOrder });
    servers.push(server);
    const { client } = createClient(OrderingServiceClient, {
      upstream: "ordering",
      target: server.address,
      defaultDeadlineMs: 5000,
      logger: captureLog().logger,
    });
    closers.push(() => client.close());
    return client;
  }

  function collect(stream: ClientReadableStream<WatchOrderResponse>): Promise<{ messages: WatchOrderResponse[]; error?: ServiceError }> {
    const messages: WatchOrderResponse[] = [];
    return new Promise((resolve) => {
      stream.on("data", (message: WatchOrderResponse) => messages.push(message));
      stream.on("error", (error: ServiceError) => resolve({ messages, error }));
      stream.on("end", () => resolve({ messages }));
    });
  }

  test("each yielded message is sent and returning ends the stream with OK", async () => {
    const client = await startOrdering(async function* (request) {
      for (const status of ["SUBMITTED", "PAID", "SHIPPED"]) yield { order: Order.fromPartial({ id: request.id, buyerId: status }) };
    });
    const { messages, error } = await collect(client.watchOrder({ id: "o1" }));
    assert.equal(error, undefined);
    assert.equal(messages.length, 3);
    assert.equal(messages[0]?.order?.id, "o1");
  });

  test("a typed error thrown after some messages ends the stream with its status", async () => {
    const client = await startOrdering(async function* (request) {
      yield { order: Order.fromPartial({ id: request.id }) };
      throw new NotFoundError(`order ${request.id} was deleted`);
    });
    const { messages, error } = await collect(client.watchOrder({ id: "o2" }));
    assert.equal(messages.length, 1);
    assert.equal(error?.code, GrpcStatus.NOT_FOUND);
    assert.equal(error?.details, "order o2 was deleted");
  });

  test("a client cancel aborts ctx.signal and closes the generator", async () => {
    let closed = false;
    let aborted = false;
    const client = await startOrdering(async function* (request, ctx) {
      try {
        for (;;) {
          yield { order: Order.fromPartial({ id: request.id }) };
          await new Promise((resolve) => setTimeout(resolve, 10));
          if (ctx.signal.aborted) aborted = true;
        }
      } finally {
        closed = true;
        aborted ||= ctx.signal.aborted;
      }
    });
    const stream = client.watchOrder({ id: "o3" });
    stream.on("error", () => undefined);
    await new Promise((resolve) => stream.once("data", resolve));
    stream.cancel();
    await waitUntil("the generator to be closed", () => closed);
    assert.equal(aborted, true);
  });
});
