// The mesh scaled to two instances of every part, each its own process, while
// 500 checkouts go through both gateways over HTTP/JSON as buyers make them
// (some with a voucher of limited redemptions, some with a declined card, some
// for an item that runs out). Half-way one instance of every service and one
// gateway are SIGKILLed and started again. Buyers retry what the mesh could not
// answer with the same request id, on the other gateway. In the end every
// checkout has exactly one order, every order is PAID or CANCELLED with a
// reason, stock and voucher redemptions add up exactly, no event was applied
// twice and none was lost, and the order read model equals the write side.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { decodeEvent, type EventName } from "../../platform/events/index.js";
import type { BasketDocument } from "../../services/basket/basket.model.js";
import { readModelDifferences } from "../../services/ordering/order-view.test-support.js";
import { countOrdersByStatus } from "../../services/ordering/ordering.test-support.js";
import { mapWithLimit } from "../support/e2e-mesh.js";
import { listQueues } from "../support/rabbitmq.js";
import { waitUntil } from "../support/wait.js";
import { type ScaledMesh, scaledParts, startScaledMesh, waitUntilGatewayReady } from "./scaled-mesh.js";

const checkoutCount = 500;
const killAfterAnswered = 250;
const concurrency = 30;
const voucherCode = "ESCALA10";
const voucherRedemptions = 40;
/** Every third checkout tries the voucher; every eleventh pays with the declined card. */
const triesVoucher = (index: number) => index % 3 === 0;
const declined = (index: number) => index % 11 === 5;
/** Statuses a buyer retries: the gateway could not reach a part, or the part did not answer in time. */
const retriedStatuses = new Set([502, 503, 504]);
const attemptTimeoutMs = 15_000;

const approvedCard = { number: "4111111111111111", holderName: "Ana Silva", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 3, securityCode: "123" };
const declinedCard = { ...approvedCard, number: "4000000000000002", holderName: "Cartao Recusado" };
const address = { street: "Rua das Flores 12", city: "Curitiba", state: "PR", country: "BR", zipCode: "80010-000" };

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what} answered ${status}: ${body}`);
  }
}

describe("the mesh scaled out to two instances of every part", () => {
  let mesh: ScaledMesh;
  let turn = 0;
  /** Set once the test is over (or failed): checkouts still running give up instead of retrying against a mesh going away. */
  let finished = false;
  /** Attempts the mesh could not answer (no answer, 502, 503, 504), each retried. */
  let unanswered = 0;

  before(async () => {
    mesh = await startScaledMesh("scale-out");
  });

  after(async () => {
    finished = true;
    await mesh?.stop();
  });

  /** One HTTP/JSON call, each attempt on the next gateway, retried while the mesh cannot answer it. */
  async function send(method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>> {
    let outcome: Record<string, unknown> | undefined;
    let last = "no attempt";
    await waitUntil(
      `${method} ${path} to be answered`,
      async () => {
        if (finished) throw new Error("the test is over");
        turn += 1;
        const gateway = mesh.gatewayUrls[turn % mesh.gatewayUrls.length];
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (token) headers.authorization = `Bearer ${token}`;
        let response: Response;
        let text: string;
        try {
          response = await fetch(`${gateway}${path}`, {
            method,
            headers,
            signal: AbortSignal.timeout(attemptTimeoutMs),
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          text = await response.text();
        } catch (error) {
          unanswered += 1;
          last = `no answer from ${gateway} (${error instanceof Error ? error.message : String(error)})`;
          return false;
        }
        if (retriedStatuses.has(response.status)) {
          unanswered += 1;
          last = `${response.status} from ${gateway}: ${text}`;
          return false;
        }
        if (!response.ok) throw new HttpRefusal(response.status, text, `${method} ${path}`);
        outcome = JSON.parse(text) as Record<string, unknown>;
        return true;
      },
      150_000,
      200,
    ).catch((error: unknown) => {
      if (error instanceof HttpRefusal) throw error;
      throw new Error(`${error instanceof Error ? error.message : String(error)}; last: ${last}\n${mesh.tail()}`);
    });
    return outcome ?? {};
  }

  async function signIn(email: string, password: string): Promise<string> {
    return String((await send("POST", "/api/v1/identity/login", { email, password })).accessToken);
  }

  interface Placed {
    requestId: string;
    orderId: string;
    voucherApplied: boolean;
  }

  /** A buyer of their own: registers, fills the basket, maybe applies the voucher, and checks out once. */
  async function placeCheckout(index: number, itemIds: string[]): Promise<Placed> {
    const email = `scale-${index}-${randomBytes(4).toString("hex")}@e2e.lojasmel.test`;
    const password = `senha-${randomBytes(6).toString("hex")}`;
    // A registration answered after the buyer gave up on it is there already: the retry finds the email taken.
    await send("POST", "/api/v1/identity/register", { email, password, displayName: `Comprador ${index}` }).catch((error: unknown) => {
      if (!(error instanceof HttpRefusal && error.status === 409)) throw error;
    });
    const token = await signIn(email, password);
    const first = itemIds[index % itemIds.length] as string;
    const second = itemIds[(index + 1) % itemIds.length] as string;
    const items =
      index % 2 === 0
        ? [{ productId: first, quantity: 1 + (index % 3) }]
        : [
            { productId: first, quantity: 1 },
            { productId: second, quantity: 2 },
          ];
    // SetItems, not AddItem: a retried write must not add the units twice.
    await send("PUT", "/api/v1/basket/items", { items }, token);
    let voucherApplied = false;
    if (triesVoucher(index)) {
      // Refused once its redemptions are spent: the buyer then checks out without it.
      voucherApplied = await send("POST", "/api/v1/basket/voucher", { code: voucherCode }, token).then(
        () => true,
        (error: unknown) => {
          if (error instanceof HttpRefusal && error.status === 400 && error.body.includes("VOUCHER_UNUSABLE")) return false;
          throw error;
        },
      );
    }
    const requestId = randomUUID();
    const request = { requestId, address, card: declined(index) ? declinedCard : approvedCard };
    const accepted = await send("POST", "/api/v1/basket/checkout", request, token).catch((error: unknown) => {
      // The voucher was used up since it was applied: the basket removed it, and the buyer checks out at the new total.
      if (!(error instanceof HttpRefusal && error.status === 400 && error.body.includes("VOUCHER_UNUSABLE"))) throw error;
      voucherApplied = false;
      return send("POST", "/api/v1/basket/checkout", request, token);
    });
    return { requestId, orderId: String(accepted.orderId), voucherApplied };
  }

  it(`takes ${checkoutCount} checkouts while one instance of every part is killed and restarted, and every number adds up`, { timeout: 330_000 }, async () => {
    const startedAt = Date.now();
    const adminToken = await signIn(mesh.adminEmail, mesh.adminPassword);
    const { brands } = (await send("GET", "/api/v1/catalog/brands")) as { brands: Array<{ id: string }> };
    const { types } = (await send("GET", "/api/v1/catalog/types")) as { types: Array<{ id: string }> };
    // Three items with stock for everyone and one that runs out.
    const initialStock = [2000, 2000, 2000, 60];
    const itemIds: string[] = [];
    for (const [index, stock] of initialStock.entries()) {
      const { item } = await send(
        "POST",
        "/api/v1/catalog/items",
        {
          name: `Escala ${index} ${randomBytes(3).toString("hex")}`,
          description: "teste de escala",
          price: { currencyCode: "BRL", amountMinor: String(1000 + index * 250) },
          brandId: brands[0]?.id,
          typeId: types[0]?.id,
          availableStock: stock,
          maxStock: 5000,
        },
        adminToken,
      );
      itemIds.push(String((item as { id: string }).id));
    }
    await send("POST", "/api/v1/vouchers", { code: voucherCode, percentOff: 10, remainingRedemptions: voucherRedemptions, active: true }, adminToken);

    // Half-way, one instance of every part dies and comes back while the checkouts go on.
    let answered = 0;
    let restart: Promise<unknown> | undefined;
    const killAndRestart = async () => {
      const victims = scaledParts.map((part) => mesh.instances[part][0]);
      await Promise.all(victims.map((victim) => victim.kill()));
      for (const victim of victims) await victim.start();
      await waitUntilGatewayReady(mesh.gatewayUrls[0] as string);
    };
    const placed = await mapWithLimit(
      Array.from({ length: checkoutCount }, (_, index) => index),
      concurrency,
      async (index) => {
        if (finished) throw new Error("the test is over");
        const result = await placeCheckout(index, itemIds).catch((error: unknown) => {
          finished = true;
          throw new Error(`checkout ${index}: ${error instanceof Error ? error.message : String(error)}\n${mesh.tail()}`, { cause: error });
        });
        answered += 1;
        // Settled where it is made; the test looks at the outcome once the checkouts are done.
        if (answered === killAfterAnswered)
          restart = killAndRestart().then(
            () => undefined,
            (error: unknown) => error,
          );
        return result;
      },
    );
    assert.ok(restart, "the instances were killed half-way");
    const restartFailure = await restart;
    if (restartFailure !== undefined) throw restartFailure;
    const placedMs = Date.now() - startedAt;

    // Settled: every order final, no reservation held, every outbox drained and every queue empty.
    await waitUntil(
      `all ${checkoutCount} orders PAID or CANCELLED`,
      async () => {
        const counts = await countOrdersByStatus(mesh.orderingDb);
        return (counts.PAID ?? 0) + (counts.CANCELLED ?? 0) === checkoutCount;
      },
      180_000,
      500,
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; statuses: ${JSON.stringify(await countOrdersByStatus(mesh.orderingDb))}\n${mesh.tail()}`);
    });
    await waitUntil(
      "no stock reserved",
      async () => (await mesh.catalogDb.selectFrom("catalog_item").select("id").where("reserved_stock", ">", 0).execute()).length === 0,
      120_000,
      500,
    );
    await waitUntil("every outbox drained and every queue empty", async () => (await undrained(mesh)).length === 0, 120_000, 500).catch(
      async (error: unknown) => {
        throw new Error(`${String(error)}: ${(await undrained(mesh)).join("; ")}`);
      },
    );

    // Both ordering instances projected every order's last version into the read model.
    let differences: string[] = [];
    await waitUntil(
      "the read model to equal the write side",
      async () => {
        differences = await readModelDifferences(mesh.orderingDb, mesh.orderingReadModel);
        return differences.length === 0;
      },
      120_000,
      1000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${differences.length} orders differ, e.g. ${differences.slice(0, 3).join("; ")}`);
    });

    // One order per checkout request, the one the checkout answered with.
    const orders = await mesh.orderingDb.selectFrom("orders").select(["id", "checkout_request_id", "status", "voucher_code", "discount_minor"]).execute();
    assert.equal(orders.length, checkoutCount, "one order per checkout, none duplicated, none missing");
    const orderOfRequest = new Map(orders.map((order) => [order.checkout_request_id, order.id]));
    assert.equal(orderOfRequest.size, checkoutCount, "no checkout request has two orders");
    for (const checkout of placed) assert.equal(orderOfRequest.get(checkout.requestId), checkout.orderId, `the order of checkout ${checkout.requestId}`);

    // Histories: each status once, numbered without gaps; each cancellation says why.
    const changes = await mesh.orderingDb
      .selectFrom("order_status_change")
      .select(["order_id", "seq", "status", "reason"])
      .orderBy("order_id")
      .orderBy("seq")
      .execute();
    const historyOf = new Map<string, typeof changes>();
    for (const change of changes) historyOf.set(change.order_id, [...(historyOf.get(change.order_id) ?? []), change]);
    for (const order of orders) {
      const history = historyOf.get(order.id) ?? [];
      assert.deepEqual(
        history.map((change) => change.seq),
        history.map((_, index) => index + 1),
        `order ${order.id} history is numbered 1…n`,
      );
      const statuses = history.map((change) => change.status);
      assert.equal(new Set(statuses).size, statuses.length, `order ${order.id} went through no status twice: ${statuses.join(" → ")}`);
      assert.equal(statuses.at(-1), order.status);
      if (order.status === "CANCELLED") assert.notEqual(history.at(-1)?.reason ?? "", "", `order ${order.id} says why it was cancelled`);
    }
    const counts = await countOrdersByStatus(mesh.orderingDb);
    assert.ok((counts.PAID ?? 0) > 0 && (counts.CANCELLED ?? 0) > 0, `some paid, some cancelled: ${JSON.stringify(counts)}`);

    // Stock: what each item had, less the units of its paid orders.
    const paidIds = orders.filter((order) => order.status === "PAID").map((order) => order.id);
    const soldLines = await mesh.orderingDb.selectFrom("order_line").select(["order_id", "product_id", "units"]).where("order_id", "in", paidIds).execute();
    for (const [index, itemId] of itemIds.entries()) {
      const sold = soldLines.filter((line) => line.product_id === itemId).reduce((sum, line) => sum + line.units, 0);
      const row = await mesh.catalogDb
        .selectFrom("catalog_item")
        .select(["available_stock", "reserved_stock"])
        .where("id", "=", itemId)
        .executeTakeFirstOrThrow();
      assert.deepEqual([row.available_stock, row.reserved_stock], [(initialStock[index] as number) - sold, 0], `stock of item ${index}`);
    }

    // Vouchers: each redemption still held belongs to an order not cancelled, and the rest are back.
    const voucher = await mesh.orderingDb.selectFrom("voucher").select("remaining_redemptions").where("code_key", "=", voucherCode).executeTakeFirstOrThrow();
    const held = await mesh.orderingDb.selectFrom("voucher_redemption").select("order_id").where("returned_at", "is", null).execute();
    const discounted = orders.filter((order) => order.status !== "CANCELLED" && order.voucher_code !== null && Number(order.discount_minor) > 0);
    assert.ok(voucher.remaining_redemptions >= 0);
    assert.equal(voucher.remaining_redemptions, voucherRedemptions - held.length, "remaining = initial − redemptions held");
    assert.deepEqual(held.map((row) => row.order_id).sort(), discounted.map((order) => order.id).sort(), "redemptions held = discounted orders not cancelled");
    assert.ok(discounted.length > 0, "some orders kept their discount");
    assert.ok(
      placed.some((checkout) => checkout.voucherApplied),
      "some buyers applied the voucher",
    );

    // Each event applied once: one answer per order from every step that saw it.
    await assertOncePerOrder(mesh, "catalog", ["OrderStockConfirmed", "OrderStockRejected"], historyOf, "AWAITING_VALIDATION");
    await assertOncePerOrder(mesh, "ordering", ["OrderStarted"], historyOf, "SUBMITTED");
    await assertOncePerOrder(mesh, "ordering", ["OrderStatusChangedToPaid", "OrderStatusChangedToCancelled"], historyOf, undefined);
    const accepted = (await mesh.basketStore.collection<BasketDocument>("baskets").find({}).toArray()).flatMap((basket) =>
      basket.outbox
        .filter((entry) => entry.type === "UserCheckoutAccepted")
        .map((entry) => decodeEvent("UserCheckoutAccepted", bytes(entry.payload)).requestId),
    );
    assert.equal(accepted.length, checkoutCount, "basket announced each checkout once");
    assert.equal(new Set(accepted).size, checkoutCount);

    // Basket: every checkout's order started, and no cancelled order was given back twice.
    const baskets = await mesh.basketStore.collection<BasketDocument>("baskets").find({}).toArray();
    const records = baskets.flatMap((basket) => basket.checkouts);
    assert.equal(records.length, checkoutCount);
    const notStarted = baskets.flatMap((basket) =>
      basket.checkouts.filter((record) => !(record.orderStartedAt instanceof Date)).map((record) => ({ buyerId: basket._id, record })),
    );
    assert.deepEqual(
      notStarted.map(({ buyerId, record }) => `${buyerId}: ${record.requestId} → ${record.orderId}`),
      [],
      `every checkout's order started; what the baskets logged of those that did not:\n${notStarted
        .flatMap(({ buyerId, record }) => mesh.instances.basket.flatMap((instance) => [...instance.logLines(buyerId), ...instance.logLines(record.orderId)]))
        .join("\n")}`,
    );
    for (const basket of baskets) {
      const returned = (basket.returnedOrders ?? []).map((entry) => entry.orderId);
      assert.equal(new Set(returned).size, returned.length, `basket ${basket._id} got no order back twice`);
    }

    // No instance died but the ones killed, and those run again.
    for (const part of scaledParts) {
      for (const instance of mesh.instances[part]) assert.ok(instance.running(), `${part} on port ${instance.port} runs:\n${instance.logTail()}`);
    }
    // Both instances of every service consume again, the restarted one included.
    for (const queue of Object.values(mesh.queues)) {
      await waitUntil(`two consumers on ${queue}`, async () => (await listQueues(queue)).find((found) => found.name === queue)?.consumers === 2, 30_000, 200);
    }

    const settledMs = Date.now() - startedAt;
    const claimsTakenOver = mesh.instances.basket.flatMap((instance) => instance.logLines("took over a basket write claim")).length;
    process.stdout.write(
      `# scale-out: ${checkoutCount} checkouts answered in ${placedMs} ms (${unanswered} attempts retried), settled in ${settledMs} ms; ${JSON.stringify(counts)}; basket write claims taken over: ${claimsTakenOver}\n`,
    );
    assert.ok(unanswered > 0, "the killed instances left some calls unanswered, and the buyers retried them");
  });
});

/** What is still in flight: outbox rows not published, baskets with pending entries, messages in any of the run's queues. */
async function undrained(mesh: ScaledMesh): Promise<string[]> {
  const pending: string[] = [];
  for (const [service, db] of [
    ["identity", mesh.identityDb],
    ["catalog", mesh.catalogDb],
    ["ordering", mesh.orderingDb],
  ] as const) {
    const rows = await (db as ScaledMesh["catalogDb"]).selectFrom("outbox").select("id").where("published_at", "is", null).execute();
    if (rows.length > 0) pending.push(`${service} outbox: ${rows.length} unpublished`);
  }
  const baskets = await mesh.basketStore.collection("baskets").countDocuments({ outboxPending: true });
  if (baskets > 0) pending.push(`basket outbox: ${baskets} baskets with unsent events`);
  for (const queue of await listQueues(mesh.prefix)) {
    if (queue.messages > 0) pending.push(`${queue.name}: ${queue.messages} messages`);
  }
  return pending;
}

/** Every order that reached `status` (every order, when undefined) has exactly one outbox row of `types` in `service`'s database. */
async function assertOncePerOrder(
  mesh: ScaledMesh,
  service: "catalog" | "ordering",
  types: EventName[],
  historyOf: Map<string, Array<{ status: string }>>,
  status: string | undefined,
): Promise<void> {
  const db = (service === "catalog" ? mesh.catalogDb : mesh.orderingDb) as ScaledMesh["catalogDb"];
  const rows = await db.selectFrom("outbox").select(["event_type", "payload"]).where("event_type", "in", types).execute();
  const orderIds = rows.map((row) => (decodeEvent(row.event_type as EventName, row.payload) as { orderId: string }).orderId);
  const expected = [...historyOf.entries()]
    .filter(([, history]) => status === undefined || history.some((change) => change.status === status))
    .map(([id]) => id);
  assert.deepEqual(orderIds.sort(), expected.sort(), `${service} published ${types.join("/")} once per order`);
}

/** Binary fields read from the driver come back as BSON Binary. */
function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return (value as { buffer: Uint8Array }).buffer;
}
