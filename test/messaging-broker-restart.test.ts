// The whole messaging path through a broker restart: 1,000 events written to a
// PostgreSQL outbox, published by the relay, consumed through the inbox while
// RabbitMQ is stopped and started mid-flow. Every event must be applied exactly
// once: none lost (confirms, durable queues, redelivery), none applied twice
// (inbox), and publishing while the broker is down must fail loudly.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Kysely } from "kysely";
import pino from "pino";
import { OrderStarted } from "../gen/mel/events/v1/ordering_events.js";
import {
  addToOutbox,
  createEventBus,
  createOutboxRelay,
  type EventBus,
  handleOnce,
  type MessagingTables,
  messagingTablesMigration,
  outboxParkingMigration,
  PublishError,
} from "../platform/events/index.js";
import { type AnyKysely, createDatabase, migrateToLatest } from "../platform/sql/index.js";
import { createTestPostgresDatabase, type TestPostgresDatabase } from "./support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, restartBroker, uniqueName } from "./support/rabbitmq.js";
import { waitUntil } from "./support/wait.js";

const logger = pino({ level: "silent" });
const total = 1000;
const prefix = uniqueName("restart");

interface AppliedTable {
  order_id: string;
  applications: number;
}
type Tables = MessagingTables & { applied: AppliedTable };

let database: TestPostgresDatabase;
let db: Kysely<Tables>;

before(async () => {
  await ensureRabbitMq();
  database = await createTestPostgresDatabase("broker_restart");
  db = createDatabase<Tables>(database.url, { variable: "MEL_TEST_DATABASE_URL", maxConnections: 8 });
  await migrateToLatest(
    db,
    {
      "0000_messaging_tables": messagingTablesMigration,
      "0002_outbox_parking": outboxParkingMigration,
      "0001_applied": {
        up: async (schemaDb: AnyKysely) => {
          await schemaDb.schema
            .createTable("applied")
            .addColumn("order_id", "varchar(100)", (col) => col.primaryKey())
            .addColumn("applications", "integer", (col) => col.notNull())
            .execute();
        },
      },
    },
    { tablePrefix: "test" },
  );
});

after(async () => {
  await db?.destroy();
  await database?.drop();
  // Whatever happened above, the broker is running again (restartBroker guarantees
  // it; this is for a failure before the restart) and the test's queues are gone.
  await ensureRabbitMq();
  const probe = await BrokerProbe.open();
  await probe.deleteByPrefix(prefix);
  await probe.close();
});

test("1,000 events flow through a RabbitMQ restart and are all applied exactly once", { timeout: 120_000 }, async () => {
  const busOptions = {
    url: rabbitMqUrl,
    logger,
    exchange: `${prefix}.events`,
    publishTimeoutMs: 1000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
  };
  const producerBus: EventBus = await createEventBus({ ...busOptions, connectionName: "restart-test producer" });
  const consumerBus: EventBus = await createEventBus({ ...busOptions, connectionName: "restart-test consumer" });
  let handlerRuns = 0;
  const subscription = await consumerBus.subscribe({
    queue: `${prefix}.ordering.events`,
    prefetch: 20,
    retryDelaysMs: [20, 50, 100],
    handlers: {
      OrderStarted: handleOnce(db, "ordering.start-order", async (trx, event) => {
        handlerRuns += 1;
        const updated = await trx
          .updateTable("applied")
          .set((eb) => ({ applications: eb("applications", "+", 1) }))
          .where("order_id", "=", event.orderId)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 0) await trx.insertInto("applied").values({ order_id: event.orderId, applications: 1 }).execute();
      }),
    },
  });
  const relay = createOutboxRelay({ db, bus: producerBus, logger, batchSize: 50, pollIntervalMs: 50, retryInitialDelayMs: 100, retryMaxDelayMs: 500 });
  relay.start();

  const appliedCount = async () =>
    Number(
      (
        await db
          .selectFrom("applied")
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
  let written = 0;
  async function writeEvents(count: number): Promise<void> {
    for (let batch = 0; batch < count; batch += 25) {
      await db.transaction().execute(async (trx) => {
        for (let index = 0; index < 25; index++)
          await addToOutbox(trx, OrderStarted, { orderId: `order-${written++}`, buyerId: "buyer", checkoutRequestId: "r" });
      });
      relay.notify();
    }
  }

  try {
    await writeEvents(total / 2);
    await waitUntil("some events to be applied before the restart", async () => (await appliedCount()) >= 100, 30_000);

    let failedWhileDown: unknown;
    await restartBroker(async () => {
      // The other half is committed while the broker is down: the outbox holds it.
      await writeEvents(total / 2);
      failedWhileDown = await producerBus.publish(OrderStarted, { orderId: "direct", buyerId: "b", checkoutRequestId: "r" }).then(
        () => undefined,
        (error: unknown) => error,
      );
    });
    assert.ok(failedWhileDown instanceof PublishError, `publishing while the broker was down did not fail: ${String(failedWhileDown)}`);
    assert.match(failedWhileDown.message, /unreachable|closed/);

    await waitUntil(`all ${total} events to be applied`, async () => (await appliedCount()) === total, 90_000, 100);
    await waitUntil("the outbox to be fully published", async () => {
      const { pending } = await db
        .selectFrom("outbox")
        .select((eb) => eb.fn.countAll<string>().as("pending"))
        .where("published_at", "is", null)
        .executeTakeFirstOrThrow();
      return Number(pending) === 0;
    });
    const twice = await db.selectFrom("applied").select("order_id").where("applications", "<>", 1).execute();
    assert.deepEqual(twice, [], "an event was applied more than once");
    assert.equal(await appliedCount(), total);
    assert.ok(handlerRuns >= total);
    const inboxRows = Number(
      (
        await db
          .selectFrom("inbox")
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    assert.equal(inboxRows, total);
  } finally {
    await relay.stop();
    await subscription.close();
    await producerBus.close();
    await consumerBus.close();
  }
});
