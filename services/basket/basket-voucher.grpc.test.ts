// Vouchers on the basket over real gRPC: identity's tokens, catalog pricing,
// ordering (SQLite) answering whether a code may be used and redeeming it
// when the checkout's order is made, on one RabbitMQ exchange.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { credentials, type Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { Basket, CheckoutRequest } from "../../gen/mel/basket/v1/basket.js";
import { OrderingServiceClient, type Voucher } from "../../gen/mel/ordering/v1/ordering.js";
import { callUnary, errorDomain, errorInfoOf, readStatusDetails } from "../../platform/grpc/index.js";
import { type BasketTestMesh, startBasketTestMesh, type TestBuyer } from "../../test/support/basket-mesh.js";
import { stopMongoServer } from "../../test/support/ferretdb.js";
import { waitUntil } from "../../test/support/wait.js";
import { rejectsWith } from "./basket.test-support.js";

const checkoutRequest = (): CheckoutRequest => ({
  requestId: randomUUID(),
  address: { street: "Rua do Mel, 42", city: "Natal", state: "RN", country: "BR", zipCode: "59000-000" },
  card: { number: "4111 1111 1111 1111", holderName: "Ana Souza", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, securityCode: "737" },
});

function present<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `expected ${what}`);
  return value;
}

const basketOf = (response: { basket?: Basket | undefined }): Basket => present(response.basket, "a basket in the response");

describe("vouchers on the basket", () => {
  let mesh: BasketTestMesh;
  let ordering: OrderingServiceClient;
  let admin: Metadata;
  let counter = 0;

  before(async () => {
    mesh = await startBasketTestMesh("basket-voucher", {}, { withOrdering: true });
    ordering = new OrderingServiceClient(`127.0.0.1:${present(mesh.ordering, "ordering in the mesh").port}`, credentials.createInsecure());
    admin = await mesh.admin();
  });

  after(async () => {
    ordering?.close();
    await mesh?.stop();
    await stopMongoServer();
  });

  async function createVoucher(overrides: Partial<Voucher> = {}): Promise<Voucher> {
    counter += 1;
    const voucher: Voucher = {
      code: `Vale${counter}-${randomUUID().slice(0, 6)}`,
      percentOff: 10,
      amountOff: undefined,
      remainingRedemptions: 10,
      validFrom: undefined,
      validUntil: undefined,
      active: true,
      createTime: undefined,
      updateTime: undefined,
      ...overrides,
    };
    return present((await callUnary(ordering, "createVoucher", { voucher }, { metadata: admin })).voucher, "the created voucher");
  }

  const apply = (buyer: TestBuyer, code: string) => callUnary(mesh.client, "applyVoucher", { code }, { metadata: buyer.metadata });
  const add = (buyer: TestBuyer, productId: string, quantity: number) =>
    callUnary(mesh.client, "addItem", { productId, quantity }, { metadata: buyer.metadata });
  const get = async (buyer: TestBuyer) => basketOf(await callUnary(mesh.client, "getBasket", {}, { metadata: buyer.metadata }));
  const brl = (amountMinor: number) => ({ currencyCode: "BRL", amountMinor });

  it("shows a percentage voucher's discount and the total after it, and follows the lines", async () => {
    const buyer = await mesh.signUp("voucher-percent");
    const voucher = await createVoucher({ percentOff: 15 });
    // 3 × 10.00 + 1 × 4.00 + 1 × 25.00 = 59.00; 15 % is 8.85.
    await add(buyer, "mel", 3);
    await add(buyer, "pote", 1);
    await add(buyer, "caneca", 1);
    const basket = basketOf(await apply(buyer, voucher.code.toLowerCase()));
    assert.deepEqual(basket.voucher, { code: voucher.code, percentOff: 15, amountOff: undefined });
    assert.deepEqual(basket.subtotal, brl(5900));
    assert.deepEqual(basket.discount, brl(885));
    assert.deepEqual(basket.total, brl(5015));
    // One more pote makes the subtotal 63.00: 15 % is 9.45.
    await add(buyer, "pote", 1);
    assert.deepEqual((await get(buyer)).discount, brl(945));
  });

  it("takes a fixed amount off, never more than the subtotal", async () => {
    const buyer = await mesh.signUp("voucher-fixed");
    const voucher = await createVoucher({ percentOff: 0, amountOff: brl(1500) });
    await add(buyer, "mel", 1);
    const basket = basketOf(await apply(buyer, voucher.code));
    assert.deepEqual(basket.discount, brl(1000));
    assert.deepEqual(basket.total, brl(0));
  });

  it("refuses a code ordering does not know, and a malformed one", async () => {
    const buyer = await mesh.signUp("voucher-unknown");
    const unknown = await apply(buyer, "NO-SUCH-CODE").then(
      () => assert.fail("an unknown voucher was applied"),
      (error: ServiceError) => error,
    );
    assert.equal(unknown.code, status.FAILED_PRECONDITION);
    assert.match(unknown.details, /^voucher NO-SUCH-CODE does not exist; check the code/);
    assert.deepEqual(errorInfoOf(readStatusDetails(unknown.metadata)), {
      reason: "VOUCHER_UNUSABLE",
      domain: errorDomain,
      metadata: { code: "NO-SUCH-CODE" },
    });
    await rejectsWith(apply(buyer, "no spaces allowed"), status.INVALID_ARGUMENT, /^code: must be 1 to 40 letters/);
  });

  it("drops a voucher that can no longer be used at the next change, with the reason for the page", async () => {
    const buyer = await mesh.signUp("voucher-dropped");
    const voucher = await createVoucher();
    await add(buyer, "mel", 1);
    await apply(buyer, voucher.code);
    await callUnary(ordering, "deactivateVoucher", { code: voucher.code }, { metadata: admin });
    const basket = basketOf(await add(buyer, "mel", 1));
    assert.equal(basket.voucher, undefined);
    assert.equal(basket.voucherRemovedReason, `voucher ${voucher.code} is no longer offered: it was removed from your basket`);
    assert.deepEqual(basket.discount, brl(0));
    assert.deepEqual(basket.total, brl(2000));
  });

  it("removes the voucher on request", async () => {
    const buyer = await mesh.signUp("voucher-removed");
    const voucher = await createVoucher();
    await add(buyer, "mel", 1);
    await apply(buyer, voucher.code);
    const basket = basketOf(await callUnary(mesh.client, "removeVoucher", {}, { metadata: buyer.metadata }));
    assert.equal(basket.voucher, undefined);
    assert.equal(basket.voucherRemovedReason, "");
    assert.deepEqual(basket.total, brl(1000));
  });

  it("checks out with the voucher: the order gets the discount and the voucher one redemption less", async () => {
    const buyer = await mesh.signUp("voucher-checkout");
    const voucher = await createVoucher({ percentOff: 20, remainingRedemptions: 3 });
    await add(buyer, "caneca", 2);
    await apply(buyer, voucher.code);
    const accepted = await callUnary(mesh.client, "checkout", checkoutRequest(), { metadata: buyer.metadata });
    assert.deepEqual(accepted.total, brl(4000));
    const findOrder = async () => (await callUnary(ordering, "getOrder", { id: accepted.orderId }, { metadata: buyer.metadata }).catch(() => undefined))?.order;
    await waitUntil("the order to be made", async () => (await findOrder()) !== undefined);
    const order = present(await findOrder(), "the order");
    assert.equal(order.voucherCode, voucher.code);
    assert.deepEqual(
      { subtotal: order.subtotal, discount: order.discount, total: order.total },
      { subtotal: brl(5000), discount: brl(1000), total: brl(4000) },
    );
    const vouchers = await callUnary(ordering, "listVouchers", { pageSize: 100, pageToken: "" }, { metadata: admin });
    assert.equal(vouchers.vouchers.find((candidate) => candidate.code === voucher.code)?.remainingRedemptions, 2);
    // The order consumed the voucher: the basket does not offer it to the next one.
    await waitUntil("OrderStarted to empty the basket", async () => (await get(buyer)).lines.length === 0);
    assert.equal((await get(buyer)).voucher, undefined);
  });

  it("refuses a checkout whose voucher was used up meanwhile, removing it so the buyer sees the new total", async () => {
    const buyer = await mesh.signUp("voucher-used-up");
    const voucher = await createVoucher({ remainingRedemptions: 1 });
    await add(buyer, "mel", 1);
    await apply(buyer, voucher.code);
    await callUnary(
      ordering,
      "updateVoucher",
      { voucher: { ...voucher, remainingRedemptions: 0 }, updateMask: ["remaining_redemptions"] },
      { metadata: admin },
    );
    const refusal = await callUnary(mesh.client, "checkout", checkoutRequest(), { metadata: buyer.metadata }).then(
      () => assert.fail("a checkout with a used-up voucher was accepted"),
      (error: ServiceError) => error,
    );
    assert.equal(refusal.code, status.FAILED_PRECONDITION);
    assert.match(refusal.details, new RegExp(`^voucher ${voucher.code} has been used up: it was removed from your basket; nothing was ordered`));
    assert.deepEqual(errorInfoOf(readStatusDetails(refusal.metadata)), { reason: "VOUCHER_UNUSABLE", domain: errorDomain, metadata: { code: voucher.code } });
    const basket = await get(buyer);
    assert.equal(basket.voucher, undefined);
    assert.deepEqual(basket.total, brl(1000));
  });
});
