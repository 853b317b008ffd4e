// 500 buyers check out at once, competing for 50 units of one item. The
// buyers and their baskets are set up through the public APIs with bounded
// concurrency; the checkouts themselves all go at once, and the saga runs as
// in production (basket → ordering → catalog → ordering → payment → catalog).
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { countOrdersByStatus } from "../../services/ordering/ordering.test-support.js";
import { approvedCard, createItem, deliveryAddress, type Mesh, mapWithLimit, registerBuyer, startMesh, stockOf } from "../support/e2e-mesh.js";
import { waitUntil } from "../support/wait.js";

const buyersCount = 500;
const unitsInStock = 50;

describe(`${buyersCount} concurrent checkouts for ${unitsInStock} units`, () => {
  let mesh: Mesh;

  before(async () => {
    mesh = await startMesh({ label: "rush", databaseMaxConnections: 16, orderingEnv: { MEL_ORDERING_EVENT_PREFETCH: "32" } });
  });

  after(async () => {
    await mesh?.stop();
  });

  it("sells exactly the units in stock, cancels every other order, and leaves none in between", { timeout: 240_000 }, async () => {
    const item = await createItem(mesh, `Edição Limitada ${randomBytes(3).toString("hex")}`, unitsInStock, 9900);
    const buyers = await mapWithLimit(Array.from({ length: buyersCount }), 20, () => registerBuyer(mesh, "rush"));
    assert.equal(new Set(buyers.map((buyer) => buyer.id)).size, buyersCount, "distinct buyers");
    await mapWithLimit(buyers, 25, (buyer) => mesh.call(mesh.basket, "addItem", { productId: item.id, quantity: 1 }, { token: buyer.token }));

    // Everyone at once.
    const accepted = await Promise.all(
      buyers.map((buyer) =>
        mesh.call(
          mesh.basket,
          "checkout",
          { requestId: randomUUID(), address: deliveryAddress, card: approvedCard },
          { token: buyer.token, deadlineMs: 120_000 },
        ),
      ),
    );
    const orderIds = new Set(accepted.map((response) => response.orderId));
    assert.equal(orderIds.size, buyersCount, "one order per buyer");

    // The flow has settled when every order is final and the catalog holds no reservation.
    await waitUntil(
      "every order to be PAID or CANCELLED",
      async () => {
        const counts = await countOrdersByStatus(mesh.orderingDb);
        return (counts.PAID ?? 0) + (counts.CANCELLED ?? 0) === buyersCount;
      },
      180_000,
      250,
    );
    await waitUntil("catalog to settle every reservation", async () => (await stockOf(mesh, item.id)).reserved === 0, 60_000, 100);

    const counts = await countOrdersByStatus(mesh.orderingDb);
    assert.deepEqual(counts, { PAID: unitsInStock, CANCELLED: buyersCount - unitsInStock }, "no order stuck outside a final status");
    assert.deepEqual(await stockOf(mesh, item.id), { available: 0, reserved: 0 }, "exactly the stock was sold, never below zero");

    const reservations = await mesh.catalogDb
      .selectFrom("stock_reservation")
      .select(["order_id", "units", "status"])
      .where("product_id", "=", item.id)
      .execute();
    assert.equal(reservations.length, unitsInStock, "one reservation per order that got stock");
    assert.ok(reservations.every((row) => row.status === "sold" && row.units === 1));
    const paidIds = (await mesh.orderingDb.selectFrom("orders").select("id").where("status", "=", "PAID").execute()).map((row) => row.id).sort();
    assert.deepEqual(reservations.map((row) => row.order_id).sort(), paidIds, "the paid orders are exactly the ones holding the sold units");

    const cancelled = await mesh.orderingDb.selectFrom("order_status_change").select(["order_id", "reason"]).where("status", "=", "CANCELLED").execute();
    assert.equal(cancelled.length, buyersCount - unitsInStock);
    assert.ok(
      cancelled.every((change) => change.reason.includes(`stock rejected: not enough stock for ${item.id}`)),
      "every other order was cancelled for want of stock",
    );
    const lowest = await mesh.catalogDb
      .selectFrom("catalog_item")
      .select((eb) => eb.fn.min("available_stock").as("lowest"))
      .executeTakeFirst();
    assert.ok(Number(lowest?.lowest) >= 0, "no item has negative stock");
  });
});
