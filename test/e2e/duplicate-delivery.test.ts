// At-least-once delivery taken to its limit: every event that reaches the
// exchange is published a second time under the same message id, so every
// consumer (basket, ordering, catalog) receives everything twice, sometimes
// concurrently. The final state must be the one a single delivery gives.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { OrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { checkout, createItem, declinedCard, type Mesh, registerBuyer, startMesh, stockOf, waitForEvent, waitForOrderStatus } from "../support/e2e-mesh.js";
import { waitUntil } from "../support/wait.js";

describe("every event delivered twice", () => {
  let mesh: Mesh;

  before(async () => {
    mesh = await startMesh({ label: "twice", duplicateEveryEvent: true });
  });

  after(async () => {
    await mesh?.stop();
  });

  /** Every event of the order reached the probe twice (the original and the copy). */
  async function assertDeliveredTwice(orderId: string): Promise<void> {
    await waitUntil(`every event of order ${orderId} to arrive twice`, () => {
      const deliveries = new Map<string, number>();
      for (const event of mesh.events) if (event.orderId === orderId) deliveries.set(event.eventId, (deliveries.get(event.eventId) ?? 0) + 1);
      return deliveries.size > 0 && [...deliveries.values()].every((count) => count === 2);
    });
  }

  async function historyOf(orderId: string): Promise<string[]> {
    const rows = await mesh.orderingDb.selectFrom("order_status_change").select("status").where("order_id", "=", orderId).orderBy("seq").execute();
    return rows.map((row) => row.status);
  }

  it("pays once, sells the units once and empties the basket", async () => {
    const item = await createItem(mesh, `Cesta ${randomBytes(3).toString("hex")}`, 10);
    const buyer = await registerBuyer(mesh, "twice-paid");
    const { orderId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 4 }]);
    await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_PAID);
    await waitForEvent(mesh, orderId, "OrderStatusChangedToPaid");
    await assertDeliveredTwice(orderId);
    await waitUntil("the sale", async () => (await stockOf(mesh, item.id)).reserved === 0);
    assert.deepEqual(await stockOf(mesh, item.id), { available: 6, reserved: 0 });
    assert.deepEqual(await historyOf(orderId), ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID"]);
    assert.equal((await mesh.orderingDb.selectFrom("orders").select("id").where("buyer_id", "=", buyer.id).execute()).length, 1);
    await waitUntil("the basket to be emptied", async () => {
      const { basket } = await mesh.call(mesh.basket, "getBasket", {}, { token: buyer.token });
      return (basket?.lines.length ?? 0) === 0;
    });
  });

  it("releases a declined order's reservation once, not twice", async () => {
    const item = await createItem(mesh, `Jarra ${randomBytes(3).toString("hex")}`, 5);
    const buyer = await registerBuyer(mesh, "twice-declined");
    const { orderId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 2 }], { card: declinedCard });
    await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_CANCELLED);
    await waitForEvent(mesh, orderId, "OrderStatusChangedToCancelled");
    await assertDeliveredTwice(orderId);
    await waitUntil("the release", async () => (await stockOf(mesh, item.id)).reserved === 0);
    assert.deepEqual(await stockOf(mesh, item.id), { available: 5, reserved: 0 }, "back to the starting stock, not above it");
    assert.deepEqual(await historyOf(orderId), ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "CANCELLED"]);
  });

  it("cancels a short order once and reserves nothing", async () => {
    const item = await createItem(mesh, `Tapete ${randomBytes(3).toString("hex")}`, 1);
    const buyer = await registerBuyer(mesh, "twice-short");
    const { orderId } = await checkout(mesh, buyer, [{ itemId: item.id, units: 2 }]);
    await waitForOrderStatus(mesh, buyer, orderId, OrderStatus.ORDER_STATUS_CANCELLED);
    await waitForEvent(mesh, orderId, "OrderStatusChangedToCancelled");
    await assertDeliveredTwice(orderId);
    assert.deepEqual(await stockOf(mesh, item.id), { available: 1, reserved: 0 });
    assert.deepEqual(await historyOf(orderId), ["SUBMITTED", "AWAITING_VALIDATION", "CANCELLED"]);
  });
});
