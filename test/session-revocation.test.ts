// Sign-out across the mesh: identity and ordering on loopback over the real
// RabbitMQ. After a logout (or a refresh-token reuse) the session's access
// token, still unexpired, is refused by ordering within seconds, by an
// ordering instance started after the logout at once, and by identity itself;
// other sessions keep working. An instance that starts while identity is away
// takes no traffic (health NOT_SERVING) until it has loaded the sign-outs.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../gen/health/v1/health.js";
import { OrderingServiceClient } from "../gen/mel/ordering/v1/ordering.js";
import { callUnary } from "../platform/grpc/index.js";
import { createLogger } from "../platform/log/index.js";
import { rejectionOf, signUp, startTestIdentity, type TestIdentity, testPassword } from "../services/identity/identity.test-support.js";
import { loadOrderingConfig } from "../services/ordering/config.js";
import { type RunningOrdering, startOrdering } from "../services/ordering/main.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "./support/ferretdb.js";
import { rabbitMqUrl } from "./support/rabbitmq.js";
import { waitUntil } from "./support/wait.js";

const quiet = createLogger({ service: "ordering", level: "silent" });
const signedOut = "the access token's session was signed out; sign in again";

interface TestOrdering {
  running: RunningOrdering;
  listOrders(accessToken: string): Promise<unknown>;
  stop(): Promise<void>;
}

let identity: TestIdentity;
let ordering: TestOrdering;
let dir: string;
let instances = 0;
let readModel: TestMongoDatabase;

/** An ordering instance that trusts `identity` for keys and sign-outs, with a database of its own. */
async function startTestOrdering(identityAddress = identity.address): Promise<TestOrdering> {
  const instance = ++instances;
  const running = await startOrdering({
    config: loadOrderingConfig({
      MEL_LOG_LEVEL: "silent",
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_PORT: "0",
      MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, `ordering-${instance}.db`)}`,
      MEL_ORDERING_MONGODB_URL: readModel.url,
      MEL_ORDERING_DRAIN_TIMEOUT: "0",
      MEL_RABBITMQ_URL: rabbitMqUrl,
      // Under identity's exchange name, so identity's clean-up removes the queues too.
      MEL_EVENTS_EXCHANGE: identity.config.messaging.exchange,
      MEL_ORDERING_QUEUE: `${identity.config.messaging.exchange}.ordering`,
      MEL_IDENTITY_ADDRESS: identityAddress,
      MEL_TOKEN_CLOCK_SKEW: "2s",
    }),
    logger: quiet,
  });
  const client = new OrderingServiceClient(`127.0.0.1:${running.port}`, credentials.createInsecure());
  return {
    running,
    listOrders: (accessToken) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${accessToken}`);
      return callUnary(client, "listOrders", { pageSize: 10, pageToken: "" }, { metadata, deadline: new Date(Date.now() + 5000) });
    },
    stop: async () => {
      client.close();
      await running.stop();
    },
  };
}

/** A port that refuses connections until open() forwards it to `target` (identity coming up late). */
async function lateForwarder(target: string): Promise<{ address: string; open(): Promise<void>; close(): Promise<void> }> {
  const [targetHost, targetPort] = target.split(":") as [string, string];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(targetPort), targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  // A port the kernel just gave out, closed again: connections to it are refused until open() listens on it.
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    address: `127.0.0.1:${port}`,
    open: () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => resolve());
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function servingStatus(address: string): Promise<HealthCheckResponse_ServingStatus> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise<HealthCheckResponse_ServingStatus>((resolve, reject) =>
    client.check({ service: "" }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (error, response) =>
      error ? reject(error) : resolve(response.status),
    ),
  ).finally(() => client.close());
}

/** Polls `call` until it is refused as signed out; fails after `timeoutMs` with the last outcome. */
async function refusedAsSignedOutWithin(timeoutMs: number, call: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "accepted";
  while (Date.now() < deadline) {
    const outcome = await call().then(
      () => undefined,
      (error: { code?: number; details?: string }) => error,
    );
    if (outcome?.code === status.UNAUTHENTICATED && outcome.details === signedOut) return;
    last = outcome === undefined ? "accepted" : `${outcome.code}: ${outcome.details}`;
    await new Promise((wake) => setTimeout(wake, 50));
  }
  assert.fail(`still not refused as signed out after ${timeoutMs} ms (last: ${last})`);
}

async function assertRefusedAsSignedOut(call: Promise<unknown>): Promise<void> {
  const error = await rejectionOf(call);
  assert.equal(error.code, status.UNAUTHENTICATED);
  assert.equal(error.details, signedOut);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "mel-session-revocation-"));
  readModel = await createTestMongoDatabase("session_revocation_ordering");
  identity = await startTestIdentity("sqlite");
  ordering = await startTestOrdering();
});

after(async () => {
  await ordering?.stop();
  await identity?.stop();
  await readModel?.drop();
  await stopMongoServer();
  rmSync(dir, { recursive: true, force: true });
});

describe("signing out across services", () => {
  it("gives access tokens the session id of their refresh-token family, kept across refreshes", async () => {
    const buyer = await signUp(identity);
    const sid = decodeJwt(buyer.accessToken).sid;
    assert.match(String(sid), /^[0-9a-f-]{36}$/);
    const refreshed = await identity.call("refresh", { refreshToken: buyer.refreshToken });
    assert.equal(decodeJwt(refreshed.accessToken).sid, sid);
  });

  it("has another service refuse a session's unexpired access token within seconds of its logout", async () => {
    const buyer = await signUp(identity);
    await ordering.listOrders(buyer.accessToken);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    await refusedAsSignedOutWithin(5000, () => ordering.listOrders(buyer.accessToken));
  });

  it("has identity refuse the token on its own methods as soon as Logout returns", async () => {
    const buyer = await signUp(identity);
    await identity.call("me", {}, buyer.accessToken);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    await assertRefusedAsSignedOut(identity.call("me", {}, buyer.accessToken));
  });

  it("has an instance started after the logout refuse the token from its first call", async () => {
    const buyer = await signUp(identity);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    const late = await startTestOrdering();
    try {
      await assertRefusedAsSignedOut(late.listOrders(buyer.accessToken));
    } finally {
      await late.stop();
    }
  });

  it("has an instance started while identity is away report NOT_SERVING until it has loaded the sign-outs, then SERVING", { timeout: 90_000 }, async () => {
    const buyer = await signUp(identity);
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    const away = await lateForwarder(identity.address);
    const late = await startTestOrdering(away.address);
    try {
      const address = `127.0.0.1:${late.running.port}`;
      assert.equal(await servingStatus(address), HealthCheckResponse_ServingStatus.NOT_SERVING, "no traffic while every token would be refused");
      await away.open();
      // The feed retries with back-off (and the circuit to identity half-opens after its pause), so this can take some seconds.
      await waitUntil(
        "the instance to report SERVING once identity answers",
        async () => (await servingStatus(address)) === HealthCheckResponse_ServingStatus.SERVING,
        60_000,
        100,
      );
      await assertRefusedAsSignedOut(late.listOrders(buyer.accessToken));
    } finally {
      await late.stop();
      await away.close();
    }
  });

  it("keeps the user's other sessions working", async () => {
    const buyer = await signUp(identity);
    const otherDevice = await identity.call("login", { email: buyer.email, password: testPassword });
    await identity.call("logout", { refreshToken: buyer.refreshToken });
    await refusedAsSignedOutWithin(5000, () => ordering.listOrders(buyer.accessToken));
    await ordering.listOrders(otherDevice.accessToken);
    await identity.call("me", {}, otherDevice.accessToken);
  });

  it("signs the session out on other services when a spent refresh token is presented again", async () => {
    const buyer = await signUp(identity);
    const refreshed = await identity.call("refresh", { refreshToken: buyer.refreshToken });
    await ordering.listOrders(refreshed.accessToken);
    const reuse = await rejectionOf(identity.call("refresh", { refreshToken: buyer.refreshToken }));
    assert.equal(reuse.code, status.UNAUTHENTICATED);
    await refusedAsSignedOutWithin(5000, () => ordering.listOrders(refreshed.accessToken));
  });
});
