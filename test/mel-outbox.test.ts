// The operator CLI against a real ordering database: `mel outbox list` shows
// the events the outbox parked, `mel outbox replay` hands them back to the relay.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ProductPriceChanged } from "../gen/mel/events/v1/catalog_events.js";
import { addToOutbox, claimOutboxBatch, markOutboxParked } from "../platform/events/index.js";
import { runCli } from "../scripts/mel.js";
import { orderingMigrations } from "../services/ordering/migrations/index.js";
import type { OrderingDatabase } from "../services/ordering/order.table.js";
import { openTestSqlDatabase, type TestSqlDatabase } from "./support/sql-database.js";

let store: TestSqlDatabase<OrderingDatabase>;
let parkedId: string;
let otherParkedId: string;

async function mel(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line), env: { MEL_ORDERING_DATABASE_URL: store.url } });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

before(async () => {
  store = await openTestSqlDatabase<OrderingDatabase>("sqlite", { service: "ordering", migrations: orderingMigrations, tablePrefix: "ordering" });
  const event = { productId: "p-cli", oldPrice: undefined, newPrice: undefined, priceVersion: 0 };
  [parkedId, otherParkedId] = await store.db
    .transaction()
    .execute(async (trx) => [
      await addToOutbox(trx, ProductPriceChanged, event, { correlationId: "corr-cli" }),
      await addToOutbox(trx, ProductPriceChanged, event),
    ]);
  const parkedAt = new Date("2030-01-01T00:00:00.000Z");
  await markOutboxParked(store.db, parkedId, 4, `ProductPriceChanged ${parkedId} was returned: no queue is bound`, parkedAt);
  await markOutboxParked(store.db, otherParkedId, 4, `ProductPriceChanged ${otherParkedId} was returned: no queue is bound`, parkedAt);
});

after(async () => {
  await store?.destroy();
});

test("outbox list shows each parked event with its type, attempts and reason", async () => {
  const { code, stdout } = await mel("outbox", "list", "ordering");
  assert.equal(code, 0);
  assert.deepEqual(stdout.split("\n"), [
    "2 event(s) parked in ordering's outbox",
    `${parkedId}  ProductPriceChanged  attempts=5  2030-01-01T00:00:00.000Z  ProductPriceChanged ${parkedId} was returned: no queue is bound`,
    `${otherParkedId}  ProductPriceChanged  attempts=5  2030-01-01T00:00:00.000Z  ProductPriceChanged ${otherParkedId} was returned: no queue is bound`,
  ]);
  const json = JSON.parse((await mel("outbox", "list", "ordering", "--json", "--limit", "1")).stdout) as {
    total: number;
    events: Array<Record<string, unknown>>;
  };
  assert.equal(json.total, 2);
  assert.deepEqual(
    json.events.map((row) => [row.eventId, row.correlationId]),
    [[parkedId, "corr-cli"]],
  );
});

test("outbox replay --id hands one parked event back to the relay, due now", async () => {
  const { code, stdout } = await mel("outbox", "replay", "ordering", "--id", parkedId);
  assert.equal(code, 0);
  assert.equal(stdout, "handed 1 event(s) back to ordering's outbox relay; it publishes them at its next poll");
  const now = new Date();
  const claimed = await claimOutboxBatch(store.db, { relayId: "cli-test", batchSize: 10, now, claimedUntil: new Date(now.getTime() + 60_000) });
  assert.deepEqual(
    claimed.map((row) => row.id),
    [parkedId],
  );
  assert.match((await mel("outbox", "list", "ordering")).stdout, /^1 event\(s\) parked in ordering's outbox/);
});

test("outbox replay --id of an event that is not parked exits 1", async () => {
  const { code, stdout } = await mel("outbox", "replay", "ordering", "--id", parkedId);
  assert.equal(code, 1);
  assert.equal(stdout, "handed 0 event(s) back to ordering's outbox relay; it publishes them at its next poll");
});

test("outbox list of a service without a SQL outbox names the ones that have one", async () => {
  const { code, stderr } = await mel("outbox", "list", "basket");
  assert.equal(code, 2);
  assert.equal(stderr, 'unknown service "basket"; the services with a SQL outbox are catalog, ordering');
});
