// `npm start` keeps the mesh up when one of its parts dies: each part in turn
// is SIGKILLed (no drain, no clean-up) while checkouts go through the gateway;
// the launcher starts it again and leaves the other processes alone, and every
// checkout's order still ends PAID, once. Buyers retry a call the mesh could
// not answer (the gateway down, an upstream UNAVAILABLE) with the same request
// id, as the storefront does. Then Ctrl-C stops it all.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { deferred, waitUntil } from "../support/wait.js";
import { buildProject, type LaunchedMesh, launchMesh, type MeshPart, meshParts, waitUntilReady, waitUntilServing } from "./launched-mesh.js";

const checkoutsPerRound = 4;
/** Statuses a buyer retries: the gateway could not reach a part, or the part did not answer in time. */
const retriedStatuses = new Set([502, 503, 504]);
/** Past the gateway's own upstream deadline (MEL_GATEWAY_UPSTREAM_TIMEOUT, 10 s) an answer is lost, and the buyer asks again. */
const attemptTimeoutMs = 12_000;

interface Buyer {
  email: string;
  token: string;
}

/** One HTTP/JSON call to the gateway, retried while the mesh cannot answer it; any other failure throws with its status and body. */
async function send(mesh: LaunchedMesh, method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>> {
  let outcome: Record<string, unknown> | undefined;
  let last = "no attempt";
  await waitUntil(
    `${method} ${path} to be answered`,
    async () => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      let response: Response;
      try {
        response = await fetch(`${mesh.gatewayUrl}${path}`, {
          method,
          headers,
          signal: AbortSignal.timeout(attemptTimeoutMs),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        last = `no answer (${error instanceof Error ? error.message : String(error)})`;
        return false;
      }
      const text = await response.text().catch((error: unknown) => {
        last = `answer cut off (${error instanceof Error ? error.message : String(error)})`;
        return undefined;
      });
      if (text === undefined) return false;
      if (retriedStatuses.has(response.status)) {
        last = `${response.status} ${text}`;
        return false;
      }
      if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
      outcome = JSON.parse(text) as Record<string, unknown>;
      return true;
    },
    45_000,
    100,
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; last: ${last}\n${mesh.tail()}`);
  });
  return outcome ?? {};
}

async function registerBuyer(mesh: LaunchedMesh): Promise<Buyer> {
  const email = `restarts-${randomBytes(6).toString("hex")}@e2e.lojasmel.test`;
  const password = `senha-${randomBytes(6).toString("hex")}`;
  await send(mesh, "POST", "/api/v1/identity/register", { email, password, displayName: "Comprador" });
  const login = await send(mesh, "POST", "/api/v1/identity/login", { email, password });
  return { email, token: String(login.accessToken) };
}

/** Puts one unit of `itemId` in the basket and checks out; resolves with the order id. */
async function checkout(mesh: LaunchedMesh, buyer: Buyer, itemId: string): Promise<string> {
  // SetItems, not AddItem: a retried write must not add the unit twice.
  await send(mesh, "PUT", "/api/v1/basket/items", { items: [{ productId: itemId, quantity: 1 }] }, buyer.token);
  const requestId = randomUUID();
  const accepted = await send(
    mesh,
    "POST",
    "/api/v1/basket/checkout",
    {
      requestId,
      address: { street: "Rua das Flores 12", city: "Curitiba", state: "PR", country: "BR", zipCode: "80010-000" },
      card: { number: "4111111111111111", holderName: "Ana Silva", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 3, securityCode: "123" },
    },
    buyer.token,
  );
  return String(accepted.orderId);
}

/** Waits until the buyer sees order `orderId` PAID (it is created from the checkout's event, so it may not exist yet). */
async function waitForPaid(mesh: LaunchedMesh, buyer: Buyer, orderId: string): Promise<void> {
  let status = "not found";
  await waitUntil(
    `order ${orderId} to be PAID`,
    async () => {
      const response = await fetch(`${mesh.gatewayUrl}/api/v1/orders/${orderId}`, {
        headers: { authorization: `Bearer ${buyer.token}` },
        signal: AbortSignal.timeout(attemptTimeoutMs),
      }).catch(() => undefined);
      const text = (await response?.text().catch(() => undefined)) ?? "";
      if (response?.status === 200) status = String((JSON.parse(text) as { order?: { status?: string } }).order?.status);
      return status === "ORDER_STATUS_PAID";
    },
    30_000,
    100,
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; its status: ${status}\n${mesh.tail()}`);
  });
}

function without(pids: Partial<Record<MeshPart, number>>, part: MeshPart): Partial<Record<MeshPart, number>> {
  return Object.fromEntries(Object.entries(pids).filter(([name]) => name !== part));
}

before(() => buildProject(), { timeout: 300_000 });

describe("the mesh under npm start survives one of its parts", { timeout: 600_000 }, () => {
  let mesh: LaunchedMesh;
  let itemIds: string[];

  before(
    async () => {
      // A grace period holds every order SUBMITTED past the kill; a short lease lets a restarted ordering take over the steps it had claimed.
      mesh = await launchMesh("restarts", { MEL_ORDERING_GRACE_PERIOD: "1000", MEL_ORDERING_STEP_LEASE: "2000" });
      const listed = await send(mesh, "GET", "/api/v1/catalog/items?pageSize=4");
      itemIds = (listed.items as Array<{ id: string }>).map((item) => item.id);
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await mesh?.cleanUp();
  });

  for (const part of meshParts) {
    it(`${part}, killed during checkouts, is restarted while the other parts keep their processes, and every order is PAID`, { timeout: 120_000 }, async () => {
      const buyers = await Promise.all(Array.from({ length: checkoutsPerRound }, () => registerBuyer(mesh)));
      const before = mesh.pids();
      const victim = before[part];
      assert.equal(Object.keys(before).length, meshParts.length, mesh.tail());
      assert.ok(victim, `${part} runs`);

      const firstAccepted = deferred();
      const placing = Promise.all(
        buyers.map(async (buyer, index) => {
          const orderId = await checkout(mesh, buyer, itemIds[index % itemIds.length] ?? "");
          firstAccepted.resolve();
          return orderId;
        }),
      );
      // Killed once the first checkout is accepted: its order is within its grace period, the others' calls may be in flight.
      await Promise.race([firstAccepted.promise, placing]);
      const linesBeforeKill = mesh.launcherLines().length;
      process.kill(victim, "SIGKILL");
      await waitUntil(`${part} to be restarted`, () => mesh.pids()[part] !== victim, 30_000, 20);
      await waitUntilServing(mesh, part);
      // And through the gateway: its channel to a restarted part reconnects, and its circuit may first have to close again.
      await waitUntilReady(mesh);

      const orderIds = await placing;
      assert.equal(new Set(orderIds).size, checkoutsPerRound, "one order per checkout");
      await Promise.all(orderIds.map((orderId, index) => waitForPaid(mesh, buyers[index] as Buyer, orderId)));

      const after = mesh.pids();
      assert.notEqual(after[part], victim);
      assert.deepEqual(without(after, part), without(before, part), "the other parts were not restarted");
      const deaths = mesh
        .launcherLines()
        .slice(linesBeforeKill)
        .filter((line) => / died /.test(String(line.msg)));
      assert.deepEqual(
        deaths.map((line) => [line.level, line.part]),
        [["warn", part]],
        "only the killed part died, once",
      );
    });
  }

  it("on Ctrl-C (SIGINT to its process group) drains every part once, restarts none, and exits 0", { timeout: 60_000 }, async () => {
    const running = mesh.pids();
    const restartsBefore = mesh.launcherLines().filter((line) => / restarted$/.test(String(line.msg))).length;
    mesh.signalGroup("SIGINT");
    const { code } = await mesh.exit;
    assert.equal(code, 0, mesh.tail());
    for (const part of meshParts) {
      const stopping = mesh.lines.filter((line) => line.service === part && line.msg === `${part} stopping`);
      assert.equal(stopping.length, 1, `${part} stopped once:\n${mesh.tail()}`);
      const stopped = mesh.launcherLines().find((line) => line.part === part && line.msg === `${part} stopped (exit code 0)`);
      assert.ok(stopped, `${part} drained and exited 0:\n${mesh.tail()}`);
      assert.throws(() => process.kill(running[part] as number, 0), { code: "ESRCH" }, `${part} is gone`);
    }
    assert.equal(mesh.launcherLines().filter((line) => / restarted$/.test(String(line.msg))).length, restartsBefore, "nothing restarted");
  });
});

describe("npm start with an invalid configuration", { timeout: 120_000 }, () => {
  let mesh: LaunchedMesh | undefined;

  after(async () => {
    await mesh?.cleanUp();
  });

  it("restarts no part that exits 2, and stops the mesh with exit code 2 naming the part", async () => {
    // Every service rejects this level and exits 2 before it opens anything.
    mesh = await launchMesh("config", { MEL_LOG_LEVEL: "chatty" }, { ready: false });
    const { code } = await mesh.exit;
    assert.equal(code, 2, mesh.tail());
    const refusals = mesh.launcherLines().filter((line) => line.level === "error");
    assert.ok(refusals.length >= 1, mesh.tail());
    for (const line of refusals) {
      assert.ok(meshParts.includes(line.part as MeshPart), JSON.stringify(line));
      assert.equal(line.msg, `${line.part} exited with code 2: its configuration is invalid (its message is above); not restarting it, stopping the mesh`);
    }
    assert.match(mesh.tail(200), /MEL_LOG_LEVEL/, "the part's own message names the variable");
    assert.deepEqual(
      mesh.launcherLines().filter((line) => / restarted$/.test(String(line.msg))),
      [],
    );
  });
});
