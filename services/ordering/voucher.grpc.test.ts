// The voucher RPCs of OrderingService as clients see them: ordering started
// on port 0 with SQLite and real RabbitMQ, a gRPC client from gen/, and
// tokens signed for an admin and for a buyer.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { OrderingServiceClient, type Voucher } from "../../gen/mel/ordering/v1/ordering.js";
import { callUnary } from "../../platform/grpc/index.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { loadOrderingConfig } from "./config.js";
import { type RunningOrdering, startOrdering } from "./main.js";
import { createTestTokens, quietLogger, type TestTokens } from "./ordering.test-support.js";

async function rejectsWith(promise: Promise<unknown>, code: status, details: RegExp): Promise<void> {
  await assert.rejects(promise, (error: ServiceError) => {
    assert.equal(error.code, code, `expected ${status[code]}, got ${status[error.code]}: ${error.details}`);
    assert.match(error.details, details);
    return true;
  });
}

describe("OrderingService vouchers over gRPC", () => {
  const prefix = uniqueName("ordering-vouchers");
  const dir = mkdtempSync(join(tmpdir(), "mel-ordering-vouchers-"));
  let ordering: RunningOrdering;
  let readModel: TestMongoDatabase;
  let client: OrderingServiceClient;
  let tokens: TestTokens;
  let admin: Metadata;
  let buyer: Metadata;
  let counter = 0;

  before(async () => {
    await ensureRabbitMq();
    readModel = await createTestMongoDatabase("ordering_vouchers");
    tokens = await createTestTokens();
    const config = loadOrderingConfig({
      MEL_LOG_LEVEL: "silent",
      MEL_ORDERING_HOST: "127.0.0.1",
      MEL_ORDERING_PORT: "0",
      MEL_ORDERING_DATABASE_URL: `sqlite:${join(dir, "ordering.db")}`,
      MEL_ORDERING_MONGODB_URL: readModel.url,
      MEL_EVENTS_EXCHANGE: prefix,
      MEL_ORDERING_QUEUE: `${prefix}.ordering`,
      MEL_RABBITMQ_URL: rabbitMqUrl,
      MEL_ORDERING_DRAIN_TIMEOUT: "500",
    });
    ordering = await startOrdering({ config, authenticate: tokens.authenticate, logger: quietLogger });
    client = new OrderingServiceClient(`127.0.0.1:${ordering.port}`, credentials.createInsecure());
    admin = new Metadata();
    admin.set("authorization", `Bearer ${await tokens.tokenFor("admin-1", ["admin"])}`);
    buyer = new Metadata();
    buyer.set("authorization", `Bearer ${await tokens.tokenFor("buyer-1")}`);
  });

  after(async () => {
    client?.close();
    await ordering?.stop();
    await readModel?.drop();
    await stopMongoServer();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function newVoucher(overrides: Partial<Voucher> = {}): Voucher {
    counter += 1;
    return {
      code: `Vale-${counter}-${prefix.slice(-6)}`,
      percentOff: 10,
      amountOff: undefined,
      remainingRedemptions: 20,
      validFrom: undefined,
      validUntil: undefined,
      active: true,
      createTime: undefined,
      updateTime: undefined,
      ...overrides,
    };
  }

  const create = (voucher: Voucher, metadata = admin) => callUnary(client, "createVoucher", { voucher }, { metadata });

  it("creates a voucher for an admin and refuses buyers", async () => {
    const voucher = newVoucher();
    const created = (await create(voucher)).voucher;
    assert.equal(created?.code, voucher.code);
    assert.equal(created?.percentOff, 10);
    assert.ok(created?.createTime instanceof Date);
    await rejectsWith(create(newVoucher(), buyer), status.PERMISSION_DENIED, /admin/);
  });

  it("refuses a code that differs from an existing one only in case", async () => {
    const voucher = newVoucher();
    await create(voucher);
    await rejectsWith(
      create({ ...voucher, code: voucher.code.toLowerCase() }),
      status.ALREADY_EXISTS,
      new RegExp(`voucher ${voucher.code.toUpperCase()} already exists`),
    );
  });

  it("names the invalid field of a new voucher", async () => {
    await rejectsWith(create(newVoucher({ percentOff: 0 })), status.INVALID_ARGUMENT, /^voucher\.percent_off: set exactly one/);
    await rejectsWith(create(newVoucher({ code: "" })), status.INVALID_ARGUMENT, /^voucher\.code: is required/);
    await rejectsWith(create(newVoucher({ remainingRedemptions: -3 })), status.INVALID_ARGUMENT, /^voucher\.remaining_redemptions: must be 0 to/);
    await rejectsWith(callUnary(client, "createVoucher", {}, { metadata: admin }), status.INVALID_ARGUMENT, /^voucher: is required/);
  });

  it("updates the fields in the mask and leaves the others", async () => {
    const voucher = newVoucher();
    await create(voucher);
    const updated = (
      await callUnary(
        client,
        "updateVoucher",
        {
          voucher: {
            ...voucher,
            code: voucher.code.toLowerCase(),
            percentOff: 0,
            amountOff: { currencyCode: "BRL", amountMinor: 700 },
            remainingRedemptions: 1,
          },
          updateMask: ["amount_off"],
        },
        { metadata: admin },
      )
    ).voucher;
    assert.deepEqual(updated?.amountOff, { currencyCode: "BRL", amountMinor: 700 });
    assert.equal(updated?.percentOff, 0);
    assert.equal(updated?.remainingRedemptions, 20);
    await rejectsWith(
      callUnary(client, "updateVoucher", { voucher: { ...voucher, code: "NO-SUCH" }, updateMask: ["active"] }, { metadata: admin }),
      status.NOT_FOUND,
      /voucher NO-SUCH does not exist/,
    );
    await rejectsWith(
      callUnary(client, "updateVoucher", { voucher, updateMask: ["code"] }, { metadata: admin }),
      status.INVALID_ARGUMENT,
      /^update_mask: "code" cannot be updated/,
    );
  });

  it("deactivates a voucher, and a check then says it is no longer offered", async () => {
    const voucher = newVoucher();
    await create(voucher);
    assert.equal((await callUnary(client, "checkVoucher", { code: voucher.code.toLowerCase() }, { metadata: buyer })).usable, true);
    const deactivated = (await callUnary(client, "deactivateVoucher", { code: voucher.code }, { metadata: admin })).voucher;
    assert.equal(deactivated?.active, false);
    const check = await callUnary(client, "checkVoucher", { code: voucher.code }, { metadata: buyer });
    assert.deepEqual({ usable: check.usable, reason: check.reason }, { usable: false, reason: `voucher ${voucher.code} is no longer offered` });
  });

  it("tells a buyer what a usable voucher takes off", async () => {
    const voucher = newVoucher({ percentOff: 0, amountOff: { currencyCode: "BRL", amountMinor: 1500 }, validUntil: new Date("2099-01-01T00:00:00Z") });
    await create(voucher);
    const check = await callUnary(client, "checkVoucher", { code: voucher.code.toUpperCase() }, { metadata: buyer });
    assert.deepEqual(check, {
      usable: true,
      reason: "",
      code: voucher.code,
      percentOff: 0,
      amountOff: { currencyCode: "BRL", amountMinor: 1500 },
      validUntil: new Date("2099-01-01T00:00:00Z"),
    });
    await rejectsWith(callUnary(client, "checkVoucher", { code: "not a code" }, { metadata: buyer }), status.INVALID_ARGUMENT, /^code: may hold only/);
  });

  it("lists vouchers a page at a time, for admins only", async () => {
    for (let index = 0; index < 3; index++) await create(newVoucher());
    const first = await callUnary(client, "listVouchers", { pageSize: 2, pageToken: "" }, { metadata: admin });
    assert.equal(first.vouchers.length, 2);
    assert.notEqual(first.nextPageToken, "");
    const second = await callUnary(client, "listVouchers", { pageSize: 2, pageToken: first.nextPageToken }, { metadata: admin });
    assert.ok(second.vouchers.length > 0);
    assert.ok((second.vouchers[0]?.code.toUpperCase() ?? "") > (first.vouchers[1]?.code.toUpperCase() ?? "~"));
    await rejectsWith(callUnary(client, "listVouchers", { pageSize: 2, pageToken: "junk" }, { metadata: admin }), status.INVALID_ARGUMENT, /^page_token: /);
    await rejectsWith(callUnary(client, "listVouchers", { pageSize: 2, pageToken: "" }, { metadata: buyer }), status.PERMISSION_DENIED, /admin/);
  });
});
