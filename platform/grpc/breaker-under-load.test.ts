// The invariant: every call made through the platform client ends with a
// status within its deadline, whatever state the circuit breaker is in. The
// breaker is driven open → half-open → closed with parallel calls in each
// state. Only Date is mocked: cockatiel decides "open long enough" from
// Date.now(), so ticking the clock makes the circuit ready to probe without
// waiting, while sockets and grpc-js timers run for real.
import assert from "node:assert/strict";
import { after, afterEach, beforeEach, mock, test } from "node:test";
import { type Client, credentials, status as GrpcStatus, Metadata, type StatusObject } from "@grpc/grpc-js";
import { Event } from "cockatiel";
import { CatalogServiceClient, GetItemRequest } from "../../gen/mel/catalog/v1/catalog.js";
import { waitUntil } from "../../test/support/wait.js";
import { UnavailableError } from "../errors/index.js";
import { callUnary, createGenericClient } from "./client.js";
import { captureLog, item, startCatalogServer, type TestCatalogServer } from "./grpc.test-support.js";

const halfOpenAfterMs = 10_000;
const consecutiveFailures = 3;
const callDeadlineMs = 3_000;
const parallelCalls = 20;
const getItemPath = "/mel.catalog.v1.CatalogService/GetItem";
const openDetails = `catalog is unavailable: circuit open after ${consecutiveFailures} failures`;

const servers: TestCatalogServer[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});
beforeEach(() => mock.timers.enable({ apis: ["Date"], now: Date.now() }));
afterEach(() => mock.timers.reset());

const passThrough = (bytes: Buffer): Buffer => bytes;

/** GetItem the way the gateway calls: the 'status' listener is attached once makeUnaryRequest has returned. */
function rawGetItem(client: Client, id: string): Promise<StatusObject> {
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(
      getItemPath,
      passThrough,
      passThrough,
      Buffer.from(GetItemRequest.encode({ id }).finish()),
      new Metadata(),
      { deadline: new Date(Date.now() + callDeadlineMs) },
      () => {},
    );
    call.on("status", resolve);
  });
}

/** GetItem through callUnary, its outcome as a status. */
async function generatedGetItem(client: CatalogServiceClient, id: string): Promise<StatusObject> {
  try {
    await callUnary(client, "getItem", { id }, { deadline: new Date(Date.now() + callDeadlineMs) });
    return { code: GrpcStatus.OK, details: "", metadata: new Metadata() };
  } catch (error: unknown) {
    return error as StatusObject;
  }
}

/** The call's status, or a failure naming the call if it has none by its deadline (plus time for a busy machine). */
async function statusWithinDeadline(status: Promise<StatusObject>, what: string): Promise<StatusObject> {
  let watchdog: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_resolve, reject) => {
    watchdog = setTimeout(() => reject(new Error(`${what} got no status within its deadline`)), callDeadlineMs + 2_000);
  });
  try {
    return await Promise.race([status, silent]);
  } finally {
    clearTimeout(watchdog);
  }
}

test("every call ends with a status within its deadline while the circuit goes open → half-open → closed under parallel load", {
  timeout: 30_000,
}, async () => {
  let down = true;
  let releaseHeld!: () => void;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));
  const reached: string[] = [];
  const server = await startCatalogServer({
    async getItem(request) {
      reached.push(request.id);
      if (down) throw new UnavailableError("catalog database is down");
      await held; // keeps the half-open probe out while the other calls arrive
      return { item: item(request.id) };
    },
  });
  servers.push(server);
  const raw = createGenericClient({
    upstream: "catalog",
    target: server.address,
    idempotentMethods: [],
    logger: captureLog("client").logger,
    breaker: { consecutiveFailures, halfOpenAfterMs },
  });
  // The generated client shares the generic client's interceptors, so both call styles go through one breaker.
  const generated = new CatalogServiceClient(server.address, credentials.createInsecure(), { interceptors: raw.interceptors });
  closers.push(
    () => raw.client.close(),
    () => generated.close(),
  );
  const breaker = raw.breaker;

  const inParallel = (phase: string, count = parallelCalls) =>
    Array.from({ length: count }, (_unused, index) => {
      const id = `${phase}-${index}`;
      const status = index % 2 === 0 ? rawGetItem(raw.client, id) : generatedGetItem(generated, id);
      return statusWithinDeadline(status, `${phase} call ${index} (${index % 2 === 0 ? "raw client" : "callUnary"})`);
    });

  // Closed → open: the failures that open it, then parallel calls while it is open.
  const opened = Event.toPromise(breaker.onBreak);
  for (let index = 0; index < consecutiveFailures; index++) {
    assert.equal((await statusWithinDeadline(rawGetItem(raw.client, `failing-${index}`), `failing call ${index}`)).code, GrpcStatus.UNAVAILABLE);
  }
  await opened;
  const whileOpen = await Promise.all(inParallel("open"));
  assert.deepEqual(
    whileOpen.map((status) => [status.code, status.details]),
    whileOpen.map(() => [GrpcStatus.UNAVAILABLE, openDetails]),
  );
  assert.equal(reached.length, consecutiveFailures, "no call left the process while the circuit was open");

  // Open → half-open: the upstream recovers, the delay passes, and the first of
  // the parallel calls becomes the probe; it is held while the others arrive.
  down = false;
  mock.timers.tick(halfOpenAfterMs);
  const halfOpen = Event.toPromise(breaker.onHalfOpen);
  const duringProbe = inParallel("half-open");
  await halfOpen;
  await waitUntil("the probe to reach the server", () => reached.length === consecutiveFailures + 1);
  const probeId = reached.at(-1)!;
  const closed = Event.toPromise(breaker.onReset);
  const others = duringProbe.filter((_call, index) => `half-open-${index}` !== probeId);
  const failedFast = await Promise.all(others);
  assert.deepEqual(
    failedFast.map((status) => [status.code, status.details]),
    failedFast.map(() => [GrpcStatus.UNAVAILABLE, openDetails]),
  );

  // Half-open → closed: the probe succeeds and parallel calls flow again.
  releaseHeld();
  const probe = await duringProbe[Number(probeId.split("-").at(-1))]!;
  assert.equal(probe.code, GrpcStatus.OK);
  await closed;
  const afterClose = await Promise.all(inParallel("closed"));
  assert.deepEqual(
    afterClose.map((status) => status.code),
    afterClose.map(() => GrpcStatus.OK),
  );
  assert.equal(reached.length, consecutiveFailures + 1 + parallelCalls, "every call after the reset reached the server");
});
