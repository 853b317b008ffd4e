// Ordering dies in the middle of the flow (SIGKILL: no drain, no cleanup,
// transactions cut off) and is started again. Everything it owed survives in
// its database and its queue: the unconsumed checkouts, the outbox rows not
// yet published, the scheduled grace-period and payment steps (whose claims
// expire with their lease). Every order must still complete, once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { countOrdersByStatus } from "../../services/ordering/ordering.test-support.js";
import { checkout, createItem, type Mesh, mapWithLimit, registerBuyer, startMesh, stockOf } from "../support/e2e-mesh.js";
import { awaitedLater, waitUntil } from "../support/wait.js";

const orders = 30;

describe("ordering killed mid-flow", () => {
  let mesh: Mesh;

  before(async () => {
    mesh = await startMesh({
      label: "crash",
      orderingAsProcess: true,
      // A grace period holds orders in SUBMITTED long enough to kill the process with work pending;
      // a short lease lets the restarted process take over steps the dead one had claimed.
      orderingEnv: { MEL_ORDERING_GRACE_PERIOD: "400", MEL_ORDERING_STEP_LEASE: "1500", MEL_ORDERING_STEP_POLL_INTERVAL: "200" },
    });
  });

  after(async () => {
    await mesh?.stop();
  });

  it("completes every order after a restart, each exactly once", { timeout: 180_000 }, async () => {
    const ordering = mesh.orderingProcess!;
    const stock = 100;
    const item = await createItem(mesh, `Bule ${randomBytes(3).toString("hex")}`, stock);
    const buyers = await mapWithLimit(Array.from({ length: orders }), 10, () => registerBuyer(mesh, "crash"));
    const unitsOf = (index: number) => 1 + (index % 3);

    const placing = awaitedLater(Promise.all(buyers.map((buyer, index) => checkout(mesh, buyer, [{ itemId: item.id, units: unitsOf(index) }]))));
    // Kill it as soon as a third of the orders exist: the rest are still queued or being created.
    await waitUntil(
      "ordering to have taken some orders",
      async () => {
        const counts = await countOrdersByStatus(mesh.orderingDb);
        return Object.values(counts).reduce((sum, count) => sum + (count ?? 0), 0) >= orders / 3;
      },
      60_000,
      5,
    );
    await ordering.kill();
    const atKill = await countOrdersByStatus(mesh.orderingDb);
    const placed = await placing; // basket accepts checkouts while ordering is down
    const unfinished = orders - (atKill.PAID ?? 0);
    assert.ok(unfinished > 0, `the kill came mid-flow (statuses then: ${JSON.stringify(atKill)})`);

    await ordering.start();
    try {
      await waitUntil("every order to be PAID", async () => ((await countOrdersByStatus(mesh.orderingDb)).PAID ?? 0) === orders, 120_000, 200);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nstatuses: ${JSON.stringify(await countOrdersByStatus(mesh.orderingDb))}\nordering log:\n${ordering.logTail()}`,
      );
    }

    assert.deepEqual(await countOrdersByStatus(mesh.orderingDb), { PAID: orders });
    const ids = placed.map((result) => result.orderId);
    const history = await mesh.orderingDb
      .selectFrom("order_status_change")
      .select(["order_id", "status"])
      .where("order_id", "in", ids)
      .orderBy("order_id")
      .orderBy("seq")
      .execute();
    for (const id of ids) {
      assert.deepEqual(
        history.filter((change) => change.order_id === id).map((change) => change.status),
        ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID"],
        `order ${id} went through each status once`,
      );
    }
    const sold = buyers.reduce((sum, _buyer, index) => sum + unitsOf(index), 0);
    await waitUntil("catalog to turn every reservation into a sale", async () => (await stockOf(mesh, item.id)).reserved === 0, 60_000, 100);
    assert.deepEqual(await stockOf(mesh, item.id), { available: stock - sold, reserved: 0 }, "each order's units sold exactly once");
  });
});
