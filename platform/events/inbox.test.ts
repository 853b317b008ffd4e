import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type Kysely, sql } from "kysely";
import pino from "pino";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { createTestPostgresDatabase, type TestPostgresDatabase } from "../../test/support/postgres.js";
import { BrokerProbe, ensureRabbitMq, findQueue, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";
import { type AnyKysely, createDatabase, migrateToLatest } from "../sql/index.js";
import { captureMssqlStatements } from "../sql/mssql-compiler.test-support.js";
import { createEventBus, handleOnce, type MessagingTables, messagingTablesMigration, pruneInbox, runOnce } from "./index.js";

const logger = pino({ level: "silent" });

interface AppliedTable {
  order_id: string;
  applications: number;
}
type Tables = MessagingTables & { applied: AppliedTable };

const migrations = {
  "0000_messaging_tables": messagingTablesMigration,
  "0001_applied": {
    up: async (db: AnyKysely) => {
      await db.schema
        .createTable("applied")
        .addColumn("order_id", "varchar(100)", (col) => col.primaryKey())
        .addColumn("applications", "integer", (col) => col.notNull())
        .execute();
    },
  },
};

/** The effect under test: counts how often an order's event was applied. */
async function applyOrder(trx: Kysely<Tables>, orderId: string): Promise<void> {
  const updated = await trx
    .updateTable("applied")
    .set((eb) => ({ applications: eb("applications", "+", 1) }))
    .where("order_id", "=", orderId)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) await trx.insertInto("applied").values({ order_id: orderId, applications: 1 }).execute();
}

function inboxBehaviour(label: string, open: () => Promise<{ db: Kysely<Tables>; close(): Promise<void> }>) {
  describe(`inbox on ${label}`, () => {
    let db: Kysely<Tables>;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrateToLatest(db, migrations, { tablePrefix: "test" });
    });
    after(() => close?.());

    test("runOnce is true the first time per (event, consumer) and false after", async () => {
      const eventId = randomUUID();
      assert.equal(await db.transaction().execute((trx) => runOnce(trx, eventId, "catalog.reserve-stock")), true);
      // The duplicate is detected inside a transaction that stays usable afterwards.
      const afterDuplicate = await db.transaction().execute(async (trx) => {
        const first = await runOnce(trx, eventId, "catalog.reserve-stock");
        await applyOrder(trx, `after-duplicate-${eventId}`);
        return first;
      });
      assert.equal(afterDuplicate, false);
      assert.equal(await db.transaction().execute((trx) => runOnce(trx, eventId, "catalog.price-audit")), true);
    });

    test("an inbox row written in a rolled-back transaction is gone, so the retry applies the event", async () => {
      const eventId = randomUUID();
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          assert.equal(await runOnce(trx, eventId, "svc"), true);
          throw new Error("handler failed after recording the inbox row");
        }),
      );
      assert.equal(await db.transaction().execute((trx) => runOnce(trx, eventId, "svc")), true);
    });

    test("pruneInbox forgets rows processed before the cutoff", async () => {
      const oldId = randomUUID();
      await db.transaction().execute((trx) => runOnce(trx, oldId, "prune", new Date("2020-01-01T00:00:00Z")));
      const newId = randomUUID();
      await db.transaction().execute((trx) => runOnce(trx, newId, "prune"));
      assert.ok((await pruneInbox(db, new Date("2021-01-01T00:00:00Z"))) >= 1);
      const left = await db.selectFrom("inbox").select("event_id").where("consumer", "=", "prune").execute();
      assert.deepEqual(
        left.map((row) => row.event_id),
        [newId],
      );
    });
  });
}

const sqliteDatabase = async () => {
  const db = createDatabase<Tables>("sqlite::memory:", { variable: "MEL_TEST_DATABASE_URL" });
  return { db, close: () => db.destroy() };
};

let postgres: TestPostgresDatabase | undefined;
const postgresDatabase = async () => {
  postgres = await createTestPostgresDatabase("inbox");
  const db = createDatabase<Tables>(postgres.url, { variable: "MEL_TEST_DATABASE_URL" });
  return {
    db,
    close: async () => {
      await db.destroy();
      await postgres?.drop();
    },
  };
};

inboxBehaviour("SQLite", sqliteDatabase);
inboxBehaviour("PostgreSQL", postgresDatabase);

test("on SQL Server the inbox insert compiles to a NOT EXISTS guard under UPDLOCK, HOLDLOCK", async () => {
  const statements = await captureMssqlStatements((db) => runOnce(db, "e-1", "svc", new Date("2030-01-01T00:00:00Z")));
  assert.equal(
    statements[0]?.replace(/\s+/g, " ").trim(),
    "insert into inbox (event_id, consumer, processed_at) select @1, @2, @3 where not exists (select 1 from inbox with (updlock, holdlock) where event_id = @4 and consumer = @5)",
  );
});

describe("duplicate deliveries through RabbitMQ and PostgreSQL", () => {
  const prefix = uniqueName("inbox");
  let database: TestPostgresDatabase;
  let db: Kysely<Tables>;
  let probe: BrokerProbe;
  before(async () => {
    await ensureRabbitMq();
    database = await createTestPostgresDatabase("inbox_dup");
    db = createDatabase<Tables>(database.url, { variable: "MEL_TEST_DATABASE_URL" });
    await migrateToLatest(db, migrations, { tablePrefix: "test" });
    probe = await BrokerProbe.open();
  });
  after(async () => {
    await db?.destroy();
    await database?.drop();
    await probe?.deleteByPrefix(prefix);
    await probe?.close();
  });

  test("the same event id delivered several times, even concurrently, is applied once and every copy is acknowledged", async () => {
    const bus = await createEventBus({ url: rabbitMqUrl, logger, exchange: `${prefix}.events` });
    const queue = `${prefix}.ordering.events`;
    let handlerRuns = 0;
    const subscription = await bus.subscribe({
      queue,
      prefetch: 8,
      handlers: {
        OrderStarted: handleOnce(db, "ordering.start-order", async (trx, event) => {
          handlerRuns += 1;
          await applyOrder(trx, event.orderId);
        }),
      },
    });
    try {
      const eventId = randomUUID();
      const copies = 5;
      await Promise.all(
        Array.from({ length: copies }, () => bus.publish(OrderStarted, { orderId: "dup-1", buyerId: "b", checkoutRequestId: "r" }, { eventId })),
      );
      await bus.publish(OrderStarted, { orderId: "other", buyerId: "b", checkoutRequestId: "r" });
      await waitUntil("every copy to be acknowledged", async () => (await findQueue(queue))?.messages === 0 && handlerRuns >= 2);
      const applied = await db.selectFrom("applied").selectAll().where("order_id", "in", ["dup-1", "other"]).orderBy("order_id").execute();
      assert.deepEqual(applied, [
        { order_id: "dup-1", applications: 1 },
        { order_id: "other", applications: 1 },
      ]);
      assert.equal(handlerRuns, 2);
      const { count } = await sql<{ count: string }>`select count(*) as count from inbox where event_id = ${eventId}`
        .execute(db)
        .then((result) => result.rows[0] ?? { count: "0" });
      assert.equal(Number(count), 1);
      assert.equal(await probe.readyCount(`${queue}.dlq`), 0);
    } finally {
      await subscription.close();
      await bus.close();
    }
  });
});
