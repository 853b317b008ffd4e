// Every OrderingService RPC, each bad input in turn: INVALID_ARGUMENT with
// reason FIELD_INVALID and a BadRequest naming the field (proto spelling, as
// in the request). WatchOrder, a server stream, ends with the same status.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata } from "@grpc/grpc-js";
import { OrderingServiceClient } from "../../gen/mel/ordering/v1/ordering.js";
import { callUnary, type UnaryMethodName } from "../../platform/grpc/index.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { assertInvalidField } from "../../test/support/status-details.js";
import { loadOrderingConfig } from "./config.js";
import { type RunningOrdering, startOrdering } from "./main.js";
import { createTestTokens, quietLogger } from "./ordering.test-support.js";

type Case = [method: UnaryMethodName<OrderingServiceClient>, field: string, request: object, what?: string];

const cases: Case[] = [
  ["listOrders", "page_size", { pageSize: -1, pageToken: "" }],
  ["listOrders", "page_token", { pageSize: 0, pageToken: "not-a-token" }],
  ["getOrder", "id", { id: "" }],
  ["cancelOrder", "id", { id: "", reason: "" }],
  ["cancelOrder", "reason", { id: "some-order", reason: "r".repeat(1000) }],
  ["shipOrder", "id", { id: "o".repeat(1000) }],
  ["searchOrders", "buyer_email", { status: 0, pageSize: 0, pageToken: "", buyerEmail: `${"e".repeat(320)}@example.com` }],
  [
    "searchOrders",
    "placed_until",
    { status: 0, pageSize: 0, pageToken: "", buyerEmail: "", placedFrom: new Date("2025-02-01T00:00:00Z"), placedUntil: new Date("2025-01-01T00:00:00Z") },
  ],
  ["getSalesPerDay", "from_day", { fromDay: "", untilDay: "2025-01-31" }, "missing"],
  ["getSalesPerDay", "from_day", { fromDay: "2025-02-30", untilDay: "2025-03-31" }, "not in the calendar"],
  ["getSalesPerDay", "until_day", { fromDay: "2025-01-01", untilDay: "31/01/2025" }, "not YYYY-MM-DD"],
  ["getSalesPerDay", "until_day", { fromDay: "2025-02-01", untilDay: "2025-01-31" }, "before from_day"],
  ["getSalesPerDay", "until_day", { fromDay: "2024-01-01", untilDay: "2025-01-01" }, "367 days"],
];

describe("OrderingService: each bad input names its field", () => {
  const prefix = uniqueName("ordering-validation");
  const dir = mkdtempSync(join(tmpdir(), "mel-ordering-validation-"));
  let ordering: RunningOrdering;
  let readModel: TestMongoDatabase;
  let client: OrderingServiceClient;
  const metadata = new Metadata();

  before(async () => {
    await ensureRabbitMq();
    readModel = await createTestMongoDatabase("ordering_validation");
    const tokens = await createTestTokens();
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
    // An admin may call every method, ShipOrder included.
    metadata.set("authorization", `Bearer ${await tokens.tokenFor("admin-1", ["admin"])}`);
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

  for (const [method, field, request, what] of cases) {
    it(`${method} with a bad ${field}${what === undefined ? "" : ` (${what})`} answers INVALID_ARGUMENT naming ${field}`, async () => {
      await assertInvalidField(callUnary(client, method, request as never, { metadata }), field);
    });
  }

  it("watchOrder with a bad id ends INVALID_ARGUMENT naming id", async () => {
    const stream = client.watchOrder({ id: "" }, metadata);
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("error", reject);
      stream.on("end", resolve);
      stream.on("data", () => undefined);
    });
    await assertInvalidField(ended, "id");
  });
});
