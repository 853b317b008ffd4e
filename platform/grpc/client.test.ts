import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { status as GrpcStatus, InterceptingCall, type Interceptor, Metadata, type ServiceError } from "@grpc/grpc-js";
import { CatalogServiceClient, type CreateItemRequest, GetItemRequest, GetItemResponse } from "../../gen/mel/catalog/v1/catalog.js";
import { awaitedLater, waitUntil } from "../../test/support/wait.js";
import { UnavailableError } from "../errors/index.js";
import type { CallContext } from "./call-context.js";
import { callUnary, createClient, createGenericClient } from "./client.js";
import { contractRegistry, idempotentMethodsOf } from "./contract.js";
import { captureLog, delay, item, rejectionOf, startCatalogServer, type TestCatalogServer } from "./grpc.test-support.js";
import { defaultDescriptorSetPath } from "./server.js";

// grpc-timeout travels as a relative time, so the time a request spends on
// the wire (long on a loaded CI machine) is added to the deadline the server
// computes, and a deadline timer fires late on a busy machine. Deadlines and
// elapsed times are compared with this allowance: generous for a loaded
// machine, still far below the defaults (5 s, 60 s) they must not fall back to.
const wireAllowanceMs = 2000;

const servers: TestCatalogServer[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});

async function serve(...args: Parameters<typeof startCatalogServer>) {
  const server = await startCatalogServer(...args);
  servers.push(server);
  return server;
}

function catalogClient(target: string, options: Partial<Parameters<typeof createClient<CatalogServiceClient, typeof CatalogServiceClient>>[1]> = {}) {
  const upstream = createClient(CatalogServiceClient, {
    upstream: "catalog",
    target,
    retry: { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 },
    logger: captureLog("client").logger,
    ...options,
  });
  closers.push(() => upstream.client.close());
  return upstream;
}

describe("retries", () => {
  test("an idempotent method failing with UNAVAILABLE is retried until it succeeds, attempts counted on the server", async () => {
    let attempts = 0;
    const server = await serve({
      async getItem(request) {
        attempts += 1;
        if (attempts < 3) throw new UnavailableError("warming up");
        return { item: item(request.id) };
      },
    });
    const { client } = catalogClient(server.address);
    const response = await callUnary(client, "getItem", { id: "a1" });
    assert.equal(response.item?.id, "a1");
    assert.equal(attempts, 3);
  });

  test("retries stop at maxAttempts and the last status reaches the caller", async () => {
    let attempts = 0;
    const server = await serve({
      async getItem() {
        attempts += 1;
        throw new UnavailableError("still down");
      },
    });
    const { client } = catalogClient(server.address, { retry: { maxAttempts: 4, initialBackoffMs: 5, maxBackoffMs: 10 } });
    const error = await rejectionOf(callUnary(client, "getItem", { id: "a1" }));
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
    assert.equal(error.details, "still down");
    assert.equal(attempts, 4);
  });

  test("a method not declared idempotent is never retried", async () => {
    let attempts = 0;
    const server = await serve({
      async createItem() {
        attempts += 1;
        throw new UnavailableError("database restarting");
      },
    });
    const { client } = catalogClient(server.address);
    const error = await rejectionOf(callUnary(client, "createItem", { item: item("new") }));
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
    assert.equal(attempts, 1);
  });

  test("statuses other than the retryable ones are not retried", async () => {
    let attempts = 0;
    const server = await serve({
      async getItem() {
        attempts += 1;
        throw { code: GrpcStatus.NOT_FOUND, details: "no such item" };
      },
    });
    const { client } = catalogClient(server.address);
    const error = await rejectionOf(callUnary(client, "getItem", { id: "zz" }));
    assert.equal(error.code, GrpcStatus.NOT_FOUND);
    assert.equal(attempts, 1);
  });

  test("retry throttling stops retrying once failures drain the channel's token bucket", async () => {
    let attempts = 0;
    const server = await serve({
      async getItem() {
        attempts += 1;
        throw new UnavailableError("overloaded");
      },
    });
    // grpc-js starts the bucket full (4 tokens), takes one per failed attempt and
    // retries only while more than half (2) remain: 4→3 retry, 3→2 stop, 2→1 stop.
    const { client } = catalogClient(server.address, {
      retry: { maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 5 },
      retryThrottling: { maxTokens: 4, tokenRatio: 0.1 },
      breaker: { consecutiveFailures: 100, halfOpenAfterMs: 60_000 },
    });
    const perCall: number[] = [];
    for (let call = 0; call < 2; call++) {
      const before = attempts;
      assert.equal((await rejectionOf(callUnary(client, "getItem", { id: "t" }))).code, GrpcStatus.UNAVAILABLE);
      perCall.push(attempts - before);
    }
    assert.deepEqual(perCall, [2, 1], "without throttling each call would make 5 attempts");
  });

  test("the methods retried are those the descriptor set marks NO_SIDE_EFFECTS or IDEMPOTENT", () => {
    const retried = idempotentMethodsOf(contractRegistry(defaultDescriptorSetPath), "mel.catalog.v1.CatalogService").map(({ method }) => method);
    assert.deepEqual(retried, ["ListItems", "GetItem", "GetItemsByIds", "ListBrands", "ListTypes", "UpdateItem", "DeleteItem"]);
  });
});

describe("deadlines", () => {
  test("a call without a deadline gets the default one: DEADLINE_EXCEEDED arrives and the server saw the deadline", async () => {
    let seen: { deadline: Date | undefined; aborted: boolean } | undefined;
    const server = await serve({
      async getItem(_request, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        seen = { deadline: ctx.deadline, aborted: ctx.signal.aborted };
        return {};
      },
    });
    const { client } = catalogClient(server.address, { defaultDeadlineMs: 200 });
    const started = Date.now();
    const error = await rejectionOf(callUnary(client, "getItem", { id: "slow" }));
    const elapsed = Date.now() - started;
    assert.equal(error.code, GrpcStatus.DEADLINE_EXCEEDED);
    // On time: not before the 200 ms budget is spent, and not long after it
    // (the platform's 5 s fallback or the handler's own pace would be far later).
    assert.ok(elapsed >= 195, `DEADLINE_EXCEEDED after ${elapsed} ms, before the 200 ms deadline`);
    assert.ok(elapsed < 200 + wireAllowanceMs, `DEADLINE_EXCEEDED after ${elapsed} ms, long past the 200 ms deadline`);
    await waitUntil("the server to see the abort", () => seen !== undefined);
    assert.ok(seen?.deadline, "the server saw a deadline");
    assert.ok(seen.deadline.getTime() <= started + 200 + wireAllowanceMs, `server deadline ${seen.deadline.toISOString()} is within the 200 ms budget`);
    assert.equal(seen.aborted, true, "ctx.signal aborted when the deadline passed");
  });

  test("a per-method deadline overrides the default", async () => {
    const server = await serve({ getItemsByIds: async () => ({ items: [], missingIds: [] }) });
    // The deadline as the client sends it: 300 ms is a short budget on a busy
    // machine, and the call itself may well run out of it.
    let sentDeadline: Date | undefined;
    const recordDeadline: Interceptor = (options, nextCall) => {
      sentDeadline = options.deadline instanceof Date ? options.deadline : new Date(options.deadline ?? Number.NaN);
      return new InterceptingCall(nextCall(options));
    };
    const { client } = catalogClient(server.address, { defaultDeadlineMs: 60_000, methodDeadlinesMs: { getItemsByIds: 300 }, interceptors: [recordDeadline] });
    const started = Date.now();
    await callUnary(client, "getItemsByIds", { ids: ["a"] }).catch((error: ServiceError) => assert.equal(error.code, GrpcStatus.DEADLINE_EXCEEDED));
    const after = Date.now();
    assert.ok(sentDeadline, "the call went out with a deadline");
    const at = sentDeadline.getTime();
    assert.ok(at >= started + 300 && at <= after + 300, `deadline ${at - started} ms after the call began, expected 300 ms`);
  });

  test("at the second hop the deadline is no later than the first hop's: the remaining budget propagates", async () => {
    let secondHop: CallContext | undefined;
    const downstream = await serve({
      async getItem(request, ctx) {
        secondHop = ctx;
        return { item: item(request.id) };
      },
    });
    // The inner client's own default (60 s) is far longer than the caller's budget.
    let sentDeadline: Date | undefined;
    const recordDeadline: Interceptor = (options, nextCall) => {
      sentDeadline = options.deadline instanceof Date ? options.deadline : new Date(options.deadline ?? Number.NaN);
      return new InterceptingCall(nextCall(options));
    };
    const inner = catalogClient(downstream.address, { defaultDeadlineMs: 60_000, interceptors: [recordDeadline] });
    let firstHopDeadline: Date | undefined;
    const upstream = await serve({
      async getItem(request, ctx) {
        firstHopDeadline = ctx.deadline;
        await delay(30);
        return callUnary(inner.client, "getItem", request);
      },
    });
    const { client } = catalogClient(upstream.address, { defaultDeadlineMs: 2000 });
    await callUnary(client, "getItem", { id: "p1" });
    assert.ok(firstHopDeadline && secondHop?.deadline && sentDeadline);
    assert.ok(sentDeadline.getTime() < firstHopDeadline.getTime(), `sent ${sentDeadline.toISOString()} < first hop ${firstHopDeadline.toISOString()}`);
    assert.ok(
      secondHop.deadline.getTime() <= firstHopDeadline.getTime() + wireAllowanceMs,
      `second hop ${secondHop.deadline.toISOString()} ≤ first hop ${firstHopDeadline.toISOString()}`,
    );
  });

  test("authorization, correlation id and traceparent arrive at the second hop", async () => {
    let secondHop: Metadata | undefined;
    const downstream = await serve({
      async getItem(request, ctx) {
        secondHop = ctx.metadata;
        return { item: item(request.id) };
      },
    });
    const inner = catalogClient(downstream.address);
    const upstream = await serve({ getItem: (request) => callUnary(inner.client, "getItem", request) });
    const { client } = catalogClient(upstream.address);
    const metadata = new Metadata();
    metadata.set("authorization", "Bearer token-of-the-buyer");
    metadata.set("x-correlation-id", "checkout-42");
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    metadata.set("traceparent", traceparent);
    await callUnary(client, "getItem", { id: "m1" }, { metadata });
    assert.ok(secondHop);
    assert.deepEqual(secondHop.get("authorization"), ["Bearer token-of-the-buyer"]);
    assert.deepEqual(secondHop.get("x-correlation-id"), ["checkout-42"]);
    assert.deepEqual(secondHop.get("traceparent"), [traceparent]);
  });

  test("a correlation id generated at the first hop is carried to the second", async () => {
    let secondHopId: string | undefined;
    let firstHopId: string | undefined;
    const downstream = await serve({
      async getItem(request, ctx) {
        secondHopId = ctx.correlationId;
        return { item: item(request.id) };
      },
    });
    const inner = catalogClient(downstream.address);
    const upstream = await serve({
      getItem(request, ctx) {
        firstHopId = ctx.correlationId;
        return callUnary(inner.client, "getItem", request);
      },
    });
    const { client } = catalogClient(upstream.address);
    await callUnary(client, "getItem", { id: "g1" });
    assert.match(firstHopId ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(secondHopId, firstHopId);
  });

  test("cancelling the first hop cancels the call it is making to the second", async () => {
    let secondHopCancelled = false;
    let secondHopStarted = false;
    const downstream = await serve({
      async getItem(_request, ctx) {
        secondHopStarted = true;
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        secondHopCancelled = true;
        return {};
      },
    });
    const inner = catalogClient(downstream.address, { defaultDeadlineMs: 60_000 });
    const upstream = await serve({ getItem: (request) => callUnary(inner.client, "getItem", request) });
    const { client } = catalogClient(upstream.address, { defaultDeadlineMs: 60_000 });
    const controller = new AbortController();
    const call = awaitedLater(rejectionOf(callUnary(client, "getItem", { id: "c1" }, { signal: controller.signal })));
    await waitUntil("the second hop to start", () => secondHopStarted);
    controller.abort();
    assert.equal((await call).code, GrpcStatus.CANCELLED);
    await waitUntil("the second hop to be cancelled", () => secondHopCancelled);
  });
});

// The breaker (cockatiel) reads Date.now() to decide when an open circuit lets a
// probe through, so these tests move a mocked Date instead of waiting for the
// half-open time to pass; timers and I/O stay real.
describe("circuit breaker", () => {
  // These count the calls the server sees, so they use CreateItem, which the
  // contract does not mark idempotent: one call is one attempt.
  test("opens after the configured failures, fails fast while open, and closes after a successful half-open probe", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    let calls = 0;
    let down = true;
    const server = await serve({
      async createItem(request) {
        calls += 1;
        if (down) throw new UnavailableError("catalog database is down");
        return { item: item(request.item?.id ?? "") };
      },
    });
    const { client, breaker } = catalogClient(server.address, { breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 } });
    for (let i = 0; i < 3; i++) {
      assert.equal((await rejectionOf(callUnary(client, "createItem", { item: item("b") }))).details, "catalog database is down");
    }
    assert.equal(calls, 3);

    const failFast = await rejectionOf(callUnary(client, "createItem", { item: item("b") }));
    assert.equal(failFast.code, GrpcStatus.UNAVAILABLE);
    assert.equal(failFast.details, "catalog is unavailable: circuit open after 3 failures");
    assert.equal(calls, 3, "the server saw no call while the circuit was open");

    down = false;
    t.mock.timers.tick(299);
    assert.match(
      (await rejectionOf(callUnary(client, "createItem", { item: item("b") }))).details,
      /circuit open after 3 failures/,
      "still open just before 300 ms",
    );
    assert.equal(calls, 3);
    t.mock.timers.tick(1);
    const probe = await callUnary(client, "createItem", { item: item("b") });
    assert.equal(probe.item?.id, "b");
    assert.equal(calls, 4, "the half-open probe reached the server");
    await callUnary(client, "createItem", { item: item("b") });
    assert.equal(calls, 5, "closed again: calls flow");
    assert.equal(breaker.state, 0 /* CircuitState.Closed */);
  });

  test("a failed half-open probe opens the circuit again", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    let calls = 0;
    const server = await serve({
      async createItem() {
        calls += 1;
        throw new UnavailableError("down");
      },
    });
    const { client } = catalogClient(server.address, { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 200 } });
    await rejectionOf(callUnary(client, "createItem", { item: item("x") }));
    await rejectionOf(callUnary(client, "createItem", { item: item("x") }));
    t.mock.timers.tick(200);
    assert.equal((await rejectionOf(callUnary(client, "createItem", { item: item("x") }))).details, "down", "the probe reaches the server");
    assert.equal(calls, 3);
    assert.match((await rejectionOf(callUnary(client, "createItem", { item: item("x") }))).details, /circuit open after 2 failures/);
    assert.equal(calls, 3);
  });

  test("while the half-open probe is out, other calls fail fast instead of waiting for it", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const ids: string[] = [];
    let down = true;
    let releaseProbe!: () => void;
    const probeGate = new Promise<void>((resolve) => (releaseProbe = resolve));
    const server = await serve({
      async createItem(request) {
        ids.push(request.item?.id ?? "");
        if (down) throw new UnavailableError("down");
        if ((request.item?.id ?? "") === "probe") await probeGate;
        return { item: item(request.item?.id ?? "") };
      },
    });
    const { client } = catalogClient(server.address, { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 100 } });
    await rejectionOf(callUnary(client, "createItem", { item: item("first") }));
    down = false;
    t.mock.timers.tick(100);
    const probe = awaitedLater(callUnary(client, "createItem", { item: item("probe") }));
    await waitUntil("the probe to reach the server", () => ids.includes("probe"));
    const during = await rejectionOf(callUnary(client, "createItem", { item: item("during") }));
    assert.equal(during.code, GrpcStatus.UNAVAILABLE);
    assert.equal(during.details, "catalog is unavailable: circuit open after 1 failures");
    releaseProbe();
    assert.equal((await probe).item?.id, "probe");
    await callUnary(client, "createItem", { item: item("after") });
    assert.deepEqual(ids, ["first", "probe", "after"]);
  });

  test("answers such as NOT_FOUND and INVALID_ARGUMENT never open the circuit", async () => {
    let calls = 0;
    const server = await serve({
      async getItem(request) {
        calls += 1;
        throw { code: request.id === "bad" ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.NOT_FOUND, details: "no" };
      },
    });
    const { client, breaker } = catalogClient(server.address, { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 } });
    for (const id of ["a", "bad", "b", "bad", "c"]) await rejectionOf(callUnary(client, "getItem", { id }));
    assert.equal(calls, 5);
    assert.equal(breaker.state, 0 /* CircuitState.Closed */);
  });
});

describe("what counts for the circuit breaker", () => {
  test("rate limiting and other answers about the caller's request never open the circuit", async () => {
    const answers = [
      GrpcStatus.RESOURCE_EXHAUSTED,
      GrpcStatus.OUT_OF_RANGE,
      GrpcStatus.ALREADY_EXISTS,
      GrpcStatus.FAILED_PRECONDITION,
      GrpcStatus.ABORTED,
      GrpcStatus.UNAUTHENTICATED,
      GrpcStatus.PERMISSION_DENIED,
    ];
    let calls = 0;
    const server = await serve({
      async getItem(request) {
        calls += 1;
        throw { code: Number(request.id), details: "refused" };
      },
    });
    const { client, breaker } = catalogClient(server.address, { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 } });
    for (const code of answers) {
      for (let i = 0; i < 3; i++) assert.equal((await rejectionOf(callUnary(client, "getItem", { id: String(code) }))).code, code);
    }
    assert.equal(calls, answers.length * 3, "every call reached the server");
    assert.equal(breaker.state, 0 /* CircuitState.Closed */);
  });

  test("a request this side cannot encode ends INTERNAL without reaching the server, and never opens the circuit", async () => {
    let calls = 0;
    const server = await serve({
      async createItem() {
        calls += 1;
        return {};
      },
    });
    const { client, breaker } = catalogClient(server.address, { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 } });
    // A CatalogItem missing its int32 fields: the generated encoder throws on it.
    const unencodable = { item: { id: "x" } } as unknown as CreateItemRequest;
    for (let i = 0; i < 3; i++) {
      const error = await rejectionOf(callUnary(client, "createItem", unencodable));
      assert.equal(error.code, GrpcStatus.INTERNAL);
      assert.match(error.details, /^Request message serialization failure/);
    }
    assert.equal(calls, 0);
    assert.equal(breaker.state, 0 /* CircuitState.Closed */);
  });

  async function serveForever() {
    return serve({
      async getItem(_request, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        return {};
      },
    });
  }

  test("DEADLINE_EXCEEDED of a call cut short by the incoming call's deadline never opens the circuit", async () => {
    const slow = await serveForever();
    const toSlow = catalogClient(slow.address, {
      defaultDeadlineMs: 60_000,
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    const front = await serve({ getItem: (request) => callUnary(toSlow.client, "getItem", request) });
    const { client } = catalogClient(front.address, { defaultDeadlineMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      const error = await rejectionOf(callUnary(client, "getItem", { id: "hurry" }, { deadline: new Date(Date.now() + 150) }));
      assert.equal(error.code, GrpcStatus.DEADLINE_EXCEEDED);
    }
    assert.equal(toSlow.breaker.state, 0 /* CircuitState.Closed */);
  });

  test("DEADLINE_EXCEEDED of a call that used its own deadline counts as a failure", async () => {
    const slow = await serveForever();
    const { client, breaker } = catalogClient(slow.address, {
      defaultDeadlineMs: 100,
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    for (let i = 0; i < 2; i++) assert.equal((await rejectionOf(callUnary(client, "getItem", { id: "slow" }))).code, GrpcStatus.DEADLINE_EXCEEDED);
    assert.equal(breaker.state, 1 /* CircuitState.Open */);
  });
});

describe("cancellation", () => {
  test("a call whose signal is already aborted ends CANCELLED without reaching the server", async () => {
    let calls = 0;
    const server = await serve({
      getItem: async () => {
        calls += 1;
        return {};
      },
    });
    const { client } = catalogClient(server.address);
    const controller = new AbortController();
    controller.abort();
    const error = await rejectionOf(callUnary(client, "getItem", { id: "never" }, { signal: controller.signal }));
    assert.equal(error.code, GrpcStatus.CANCELLED);
    await callUnary(client, "getItem", { id: "next" });
    assert.equal(calls, 1, "only the second call reached the server");
  });
});

describe("channel", () => {
  test("several addresses are used in round robin", async () => {
    const hits = [0, 0];
    const first = await serve({
      getItem: async () => {
        hits[0]! += 1;
        return {};
      },
    });
    const second = await serve({
      getItem: async () => {
        hits[1]! += 1;
        return {};
      },
    });
    const { client } = catalogClient(`127.0.0.1:${first.port},localhost:${second.port}`);
    for (let i = 0; i < 40 && (hits[0] === 0 || hits[1] === 0); i++) await callUnary(client, "getItem", { id: "rr" });
    assert.ok(hits[0]! > 0 && hits[1]! > 0, `both instances served calls (${hits.join(", ")})`);
  });

  test("a generic client with pass-through serializers gets the same retry and deadline treatment", async () => {
    let attempts = 0;
    let deadline: Date | undefined;
    const server = await serve({
      async getItem(request, ctx) {
        attempts += 1;
        deadline = ctx.deadline;
        if (attempts < 2) throw new UnavailableError("once");
        return { item: item(request.id) };
      },
    });
    const generic = createGenericClient({
      upstream: "catalog",
      target: server.address,
      serviceName: "mel.catalog.v1.CatalogService",
      idempotentMethods: ["GetItem"],
      // Longer than the platform's 5 s fallback, so the lower bound below tells them apart.
      defaultDeadlineMs: 30_000,
      retry: { maxAttempts: 2, initialBackoffMs: 5, maxBackoffMs: 5 },
      logger: captureLog().logger,
    });
    closers.push(() => generic.client.close());
    const passThrough = (bytes: Buffer) => bytes;
    const started = Date.now();
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      generic.client.makeUnaryRequest(
        "/mel.catalog.v1.CatalogService/GetItem",
        passThrough,
        passThrough,
        Buffer.from(GetItemRequest.encode({ id: "g7" }).finish()),
        new Metadata(),
        {},
        (error: ServiceError | null, response?: Buffer) => (error || !response ? reject(error) : resolve(response)),
      ),
    );
    assert.equal(GetItemResponse.decode(bytes).item?.id, "g7");
    const after = Date.now();
    assert.equal(attempts, 2);
    // grpc-timeout is relative: the server's deadline is the client's plus at most the time on the wire.
    assert.ok(deadline, "the server saw a deadline");
    assert.ok(
      deadline.getTime() >= started + 30_000 - 5 && deadline.getTime() <= after + 30_000 + (after - started),
      `the default deadline applied: ${deadline.getTime() - started} ms after the call began`,
    );
  });
});
