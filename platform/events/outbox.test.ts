import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DummyDriver, Kysely, type KyselyPlugin, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, UpdateQueryNode } from "kysely";
import pino from "pino";
import { ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import { OrderPaymentSucceeded, OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { createTestPostgresDatabase, type TestPostgresDatabase } from "../../test/support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../../test/support/rabbitmq.js";
import { awaitedLater, deferred, waitUntil } from "../../test/support/wait.js";
import { createDatabase, migrateToLatest } from "../sql/index.js";
import { captureMssqlStatements } from "../sql/mssql-compiler.test-support.js";
import {
  addToOutbox,
  claimOutboxBatch,
  countParkedOutboxRows,
  createEventBus,
  createOutboxRelay,
  deletePublishedOutboxRows,
  type EventBus,
  listParkedOutboxRows,
  type MessagingTables,
  markOutboxFailed,
  markOutboxParked,
  markOutboxPublished,
  messagingTablesMigration,
  type OutboxRow,
  outboxParkingMigration,
  releaseParkedOutboxRows,
} from "./index.js";

const logger = pino({ level: "silent" });
const migrations = { "0000_messaging_tables": messagingTablesMigration, "0001_outbox_parking": outboxParkingMigration };
const prefix = uniqueName("outbox");
const exchange = `${prefix}.events`;
let bus: EventBus;
let probe: BrokerProbe;

before(async () => {
  await ensureRabbitMq();
  bus = await createEventBus({ url: rabbitMqUrl, logger, exchange, publishTimeoutMs: 3000 });
  probe = await BrokerProbe.open();
});

after(async () => {
  await bus?.close();
  await probe?.deleteByPrefix(prefix);
  await probe?.close();
});

const order = (orderId: string) => ({ orderId, buyerId: "buyer", checkoutRequestId: `r-${orderId}` });

/** A queue bound to the test exchange for `eventType`, to observe what the relay published. */
async function tapQueue(name: string, eventType: string): Promise<string> {
  const queue = `${prefix}.${name}`;
  await bus.declare({ queues: [{ name: queue }], bindings: [{ source: exchange, destination: queue, routingKey: eventType }] });
  return queue;
}

/**
 * `db` as a relay's handle that tells when the relay's first claim (an UPDATE
 * of outbox, the first statement of each round) has come back: from then on,
 * a row added is left for a later round.
 */
function watchFirstClaim(db: Kysely<MessagingTables>): { db: Kysely<MessagingTables>; firstClaim: Promise<void> } {
  const claimed = deferred();
  const updates = new Set<string>();
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (UpdateQueryNode.is(node)) updates.add(queryId.queryId);
      return node;
    },
    async transformResult({ queryId, result }) {
      if (updates.delete(queryId.queryId)) claimed.resolve();
      return result;
    },
  };
  return { db: db.withPlugin(plugin), firstClaim: claimed.promise };
}

/** The outbox and its relay against a real database; run below on SQLite and on PostgreSQL. */
function outboxBehaviour(label: string, open: () => Promise<{ db: Kysely<MessagingTables>; close(): Promise<void> }>) {
  describe(`outbox on ${label}`, () => {
    let db: Kysely<MessagingTables>;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrateToLatest(db, migrations, { tablePrefix: "test" });
    });
    after(() => close?.());

    test("an event added in a rolled-back transaction is never stored; a committed one is", async () => {
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await addToOutbox(trx, OrderStarted, order("rolled-back"));
          throw new Error("the state change failed");
        }),
        /the state change failed/,
      );
      const id = await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, order("kept"), { correlationId: "corr-k", traceparent: "00-t-s-01" }));
      const rows = await db.selectFrom("outbox").selectAll().execute();
      assert.equal(rows.length, 1);
      const row = rows[0];
      assert.ok(row);
      assert.equal(row.id, id);
      assert.equal(row.event_type, "OrderStarted");
      assert.deepEqual(OrderStarted.decode(row.payload), order("kept"));
      assert.equal(row.correlation_id, "corr-k");
      assert.equal(row.traceparent, "00-t-s-01");
      assert.equal(row.published_at, null);
      assert.equal(row.attempts, 0);
      await db.deleteFrom("outbox").execute();
    });

    test("notify() wakes the relay, which publishes the event with its id and trace context and marks it published", async () => {
      const queue = await tapQueue(`${label}.started`, "OrderStarted");
      // A poll interval far longer than the test: only notify() can explain a quick publish.
      const watched = watchFirstClaim(db);
      const relay = createOutboxRelay({ db: watched.db, bus, logger, pollIntervalMs: 60_000 });
      relay.start();
      try {
        await watched.firstClaim; // The first round found nothing: the row below waits for the next one.
        const id = await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, order("notified"), { correlationId: "corr-n" }));
        relay.notify();
        await probe.waitForReady(queue, 1, 5000);
        const message = await probe.raw.get(queue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.messageId, id);
        assert.equal(message.properties.type, "OrderStarted");
        assert.equal(String(message.properties.headers?.["correlation-id"]), "corr-n");
        assert.deepEqual(OrderStarted.decode(message.content), order("notified"));
        await waitUntil(
          "the row to be marked published",
          async () => (await db.selectFrom("outbox").select("published_at").where("id", "=", id).executeTakeFirstOrThrow()).published_at !== null,
        );
        const row = await db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
        assert.equal(row.attempts, 1);
        assert.equal(row.claimed_by, null);
      } finally {
        await relay.stop();
      }
    });

    test("a failed publish records the attempt and the error, and is retried after a back-off", async () => {
      // Never parked here: this is about the retries before that.
      const relay = createOutboxRelay({ db, bus, logger, pollIntervalMs: 20, retryInitialDelayMs: 50, retryMaxDelayMs: 100, unroutableAttempts: 1000 });
      const id = await db
        .transaction()
        .execute((trx) => addToOutbox(trx, ProductPriceChanged, { productId: "p-1", oldPrice: undefined, newPrice: undefined, priceVersion: 0 }));
      relay.start();
      try {
        // Nothing is bound to ProductPriceChanged yet: the broker returns it.
        await waitUntil(
          "a failed attempt to be recorded",
          async () => (await db.selectFrom("outbox").select("attempts").where("id", "=", id).executeTakeFirstOrThrow()).attempts >= 1,
        );
        const failed = await db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
        assert.equal(failed.published_at, null);
        assert.match(failed.last_error ?? "", /returned: no queue is bound for routing key "ProductPriceChanged"/);
        assert.ok(failed.next_attempt_at > failed.created_at);
        const queue = await tapQueue(`${label}.price`, "ProductPriceChanged");
        await probe.waitForReady(queue, 1, 5000);
        await waitUntil(
          "the row to be marked published",
          async () => (await db.selectFrom("outbox").select("published_at").where("id", "=", id).executeTakeFirstOrThrow()).published_at !== null,
        );
        const published = await db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
        assert.ok(published.attempts >= 2);
        assert.equal(published.last_error, null);
      } finally {
        await relay.stop();
        // Unbound again, so ProductPriceChanged is unroutable for the next database's run.
        await probe.raw.deleteQueue(`${prefix}.${label}.price`);
      }
    });

    test("each row that failed in one batch keeps its own error, naming that row", async () => {
      await db.deleteFrom("outbox").execute();
      const ids = await db
        .transaction()
        .execute(async (trx) => [
          await addToOutbox(trx, ProductPriceChanged, { productId: "p-own-1", oldPrice: undefined, newPrice: undefined, priceVersion: 0 }),
          await addToOutbox(trx, ProductPriceChanged, { productId: "p-own-2", oldPrice: undefined, newPrice: undefined, priceVersion: 0 }),
        ]);
      const relay = createOutboxRelay({ db, bus, logger, unroutableAttempts: 1000 });
      await relay.publishBatch();
      const rows = await db.selectFrom("outbox").select(["id", "last_error"]).where("id", "in", ids).execute();
      assert.equal(rows.length, 2);
      for (const row of rows) assert.match(row.last_error ?? "", new RegExp(`^ProductPriceChanged ${row.id} to .* was returned: no queue is bound`));
      await db.deleteFrom("outbox").execute();
    });

    test("a required event that stays unroutable is parked after its attempts, logged at error with its row, and skipped by the relay", async () => {
      await db.deleteFrom("outbox").execute();
      const lines: Array<Record<string, unknown>> = [];
      const capturing = pino({ level: "warn" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
      const id = await db
        .transaction()
        .execute((trx) => addToOutbox(trx, ProductPriceChanged, { productId: "p-park", oldPrice: undefined, newPrice: undefined, priceVersion: 0 }));
      const relay = createOutboxRelay({ db, bus, logger: capturing, pollIntervalMs: 20, retryInitialDelayMs: 10, retryMaxDelayMs: 20, unroutableAttempts: 3 });
      relay.start();
      try {
        await waitUntil(
          "the row to be parked",
          async () => (await db.selectFrom("outbox").select("parked_at").where("id", "=", id).executeTakeFirstOrThrow()).parked_at !== null,
        );
      } finally {
        await relay.stop();
      }
      const row = await db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
      assert.equal(row.attempts, 3);
      assert.equal(row.published_at, null);
      assert.equal(row.claimed_by, null);
      assert.match(row.last_error ?? "", new RegExp(`^ProductPriceChanged ${id} to .* was returned: no queue is bound for routing key "ProductPriceChanged"`));
      const parkedLines = lines.filter((line) => line.level === 50);
      assert.deepEqual(
        parkedLines.map((line) => [line.msg, line.eventId, line.type, line.attempts, line.parkedTotal]),
        [["outbox event parked: no queue is bound for it; bind its consumer, then npm run mel -- outbox replay", id, "ProductPriceChanged", 3, 1]],
      );
      assert.equal(lines.filter((line) => line.level === 40).length, 2, "one warning per retried attempt, none after parking");
      // No relay claims it again.
      const now = new Date(Date.now() + 24 * 60 * 60 * 1000);
      assert.deepEqual(await claimOutboxBatch(db, { relayId: "another-relay", batchSize: 10, now, claimedUntil: new Date(now.getTime() + 60_000) }), []);
      assert.equal(await countParkedOutboxRows(db), 1);
    });

    test("a replayed parked row is published once its consumer is bound", async () => {
      const [parked] = (await listParkedOutboxRows(db)).rows;
      assert.ok(parked, "the row parked by the previous test");
      assert.equal(parked.type, "ProductPriceChanged");
      const queue = await tapQueue(`${label}.replayed`, "ProductPriceChanged");
      try {
        assert.equal(await releaseParkedOutboxRows(db, { eventId: parked.eventId }), 1);
        assert.equal(await countParkedOutboxRows(db), 0);
        assert.equal(await createOutboxRelay({ db, bus, logger }).publishBatch(), 1);
        await probe.waitForReady(queue, 1, 5000);
        const row = await db.selectFrom("outbox").selectAll().where("id", "=", parked.eventId).executeTakeFirstOrThrow();
        assert.notEqual(row.published_at, null);
        assert.equal(row.parked_at, null);
      } finally {
        await probe.raw.deleteQueue(queue);
        await db.deleteFrom("outbox").execute();
      }
    });

    test("a notice no queue is bound for is published once and marked published, not retried", async () => {
      await db.deleteFrom("outbox").execute();
      const id = await db.transaction().execute((trx) => addToOutbox(trx, OrderPaymentSucceeded, { orderId: "o-notice", authorizationId: "auth-1" }));
      assert.equal(await createOutboxRelay({ db, bus, logger }).publishBatch(), 1);
      const row = await db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
      assert.notEqual(row.published_at, null);
      assert.equal(row.attempts, 1);
      assert.equal(row.last_error, null);
      await db.deleteFrom("outbox").execute();
    });

    test("without notify() the relay still publishes at its next poll", async () => {
      await db.deleteFrom("outbox").execute();
      const queue = await tapQueue(`${label}.polled`, "OrderStarted");
      const watched = watchFirstClaim(db);
      const relay = createOutboxRelay({ db: watched.db, bus, logger, pollIntervalMs: 200 });
      relay.start();
      try {
        await watched.firstClaim; // The first round found nothing: only the next poll can publish the row below.
        const id = await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, order(`polled-${label}`)));
        await probe.waitForReady(queue, 1, 5000);
        const message = await probe.raw.get(queue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.messageId, id);
      } finally {
        await relay.stop();
        await probe.raw.deleteQueue(queue);
      }
    });

    test("the relay deletes published rows past the retention and keeps pending ones", async () => {
      await db.deleteFrom("outbox").execute();
      const old = await db.transaction().execute(async (trx) => {
        const ids: string[] = [];
        for (let index = 0; index < 5; index++)
          ids.push(await addToOutbox(trx, OrderStarted, order(`old-${index}`), { now: new Date("2020-01-01T00:00:00Z") }));
        return ids;
      });
      await markOutboxPublished(db, old, new Date("2020-01-01T00:00:01Z"));
      const recent = await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, order("recent")));
      await markOutboxPublished(db, [recent], new Date());
      const pending = await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, order("pending")));
      await markOutboxFailed(db, [pending], 0, "broker down", new Date("2999-01-01T00:00:00Z"));

      // Five old rows, two per statement: the relay goes on until a batch comes back short.
      const relay = createOutboxRelay({ db, bus, logger, retentionMs: 60 * 60 * 1000, cleanupIntervalMs: 0, pruneBatchSize: 2 });
      relay.start();
      try {
        await waitUntil("the old rows to be deleted", async () => (await db.selectFrom("outbox").select("id").where("id", "in", old).execute()).length === 0);
        const left = (await db.selectFrom("outbox").select("id").execute()).map((row) => row.id).sort();
        assert.deepEqual(left, [recent, pending].sort());
      } finally {
        await relay.stop();
      }
    });

    test("the relay forgets inbox rows past the inbox retention and keeps recent ones", async () => {
      await db.deleteFrom("inbox").execute();
      await db
        .insertInto("inbox")
        .values([
          { event_id: "old-event", consumer: "catalog", processed_at: new Date("2020-01-01T00:00:00Z").toISOString() },
          { event_id: "recent-event", consumer: "catalog", processed_at: new Date().toISOString() },
        ])
        .execute();

      const relay = createOutboxRelay({ db, bus, logger, inboxRetentionMs: 60 * 60 * 1000, cleanupIntervalMs: 0 });
      relay.start();
      try {
        await waitUntil(
          "the old inbox row to be deleted",
          async () => (await db.selectFrom("inbox").select("event_id").where("event_id", "=", "old-event").executeTakeFirst()) === undefined,
        );
        assert.deepEqual(
          (await db.selectFrom("inbox").select("event_id").execute()).map((row) => row.event_id),
          ["recent-event"],
        );
      } finally {
        await relay.stop();
      }
    });
  });
}

outboxBehaviour("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mel-outbox-"));
  const db = createDatabase<MessagingTables>(`sqlite:${join(dir, "outbox.db")}`, { variable: "MEL_TEST_DATABASE_URL" });
  return {
    db,
    close: async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

outboxBehaviour("PostgreSQL", async () => {
  const database = await createTestPostgresDatabase("outbox_relay");
  const db = createDatabase<MessagingTables>(database.url, { variable: "MEL_TEST_DATABASE_URL" });
  return {
    db,
    close: async () => {
      await db.destroy();
      await database.drop();
    },
  };
});

describe("outbox SQL on SQL Server (compiled) and PostgreSQL (compiled)", () => {
  const claim = { relayId: "relay-1", batchSize: 50, now: new Date("2030-01-01T00:00:00.000Z"), claimedUntil: new Date("2030-01-01T00:01:00.000Z") };

  test("the migration compiles to T-SQL: IDENTITY key, varbinary payload, nvarchar error, composite inbox key", async () => {
    const statements = await captureMssqlStatements((db) => messagingTablesMigration.up(db));
    assert.deepEqual(statements, [
      'create table "outbox" ("seq" bigint identity primary key, "id" varchar(36) not null unique, "event_type" varchar(200) not null, "payload" varbinary(max) not null, "correlation_id" varchar(200), "traceparent" varchar(200), "created_at" varchar(32) not null, "published_at" varchar(32), "attempts" integer default 0 not null, "last_error" nvarchar(2000), "next_attempt_at" varchar(32) not null, "claimed_by" varchar(100), "claimed_until" varchar(32))',
      'create index "outbox_pending" on "outbox" ("published_at", "next_attempt_at")',
      'create table "inbox" ("event_id" varchar(100) not null, "consumer" varchar(100) not null, "processed_at" varchar(32) not null, constraint "inbox_pk" primary key ("event_id", "consumer"))',
      'create index "inbox_processed_at" on "inbox" ("processed_at")',
    ]);
  });

  test("parking adds one nullable column", async () => {
    assert.deepEqual(await captureMssqlStatements((db) => outboxParkingMigration.up(db)), ['alter table "outbox" add "parked_at" varchar(32)']);
  });

  test("claiming compiles to one UPDATE over a TOP batch read WITH (UPDLOCK, READPAST)", async () => {
    const statements = await captureMssqlStatements((db) => claimOutboxBatch(db, claim));
    assert.equal(statements.length, 1);
    const normalised = statements[0]?.replace(/\s+/g, " ").trim();
    assert.equal(
      normalised,
      "with batch as ( select top (@1) * from outbox with (updlock, readpast, rowlock) where published_at is null and parked_at is null and next_attempt_at <= @2 and (claimed_until is null or claimed_until < @3) order by seq ) update batch set claimed_by = @4, claimed_until = @5 output inserted.*",
    );
  });

  test("marking, failing and deleting compile to T-SQL", async () => {
    const statements = await captureMssqlStatements(async (db) => {
      await markOutboxPublished(db, ["a", "b"], claim.now);
      await markOutboxFailed(db, ["c"], 2, "boom", claim.claimedUntil);
      await deletePublishedOutboxRows(db, claim.now, 500);
      await markOutboxParked(db, "d", 4, "returned", claim.now);
      await releaseParkedOutboxRows(db, { eventId: "d", now: claim.now });
      await listParkedOutboxRows(db, 20);
    });
    assert.deepEqual(statements, [
      'update "outbox" set "published_at" = @1, "attempts" = "attempts" + @2, "last_error" = @3, "claimed_by" = @4, "claimed_until" = @5 where "id" in (@6, @7)',
      'update "outbox" set "attempts" = @1, "last_error" = @2, "next_attempt_at" = @3, "claimed_by" = @4, "claimed_until" = @5 where "id" in (@6)',
      'delete from "outbox" where "id" in (select top(500) "id" from "outbox" where "published_at" is not null and "published_at" < @1 order by "seq")',
      'update "outbox" set "attempts" = @1, "last_error" = @2, "parked_at" = @3, "claimed_by" = @4, "claimed_until" = @5 where "id" = @6',
      'update "outbox" set "parked_at" = @1, "next_attempt_at" = @2 where "parked_at" is not null and "id" = @3',
      'select top(20) "id", "event_type", "attempts", "created_at", "parked_at", "last_error", "correlation_id" from "outbox" where "parked_at" is not null order by "seq"',
      'select count(*) as "parked" from "outbox" where "parked_at" is not null',
    ]);
  });

  test("claiming on PostgreSQL skips rows other relays hold (FOR UPDATE SKIP LOCKED)", async () => {
    const statements: string[] = [];
    const pgCompiler = new Kysely<MessagingTables>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (inner) => new PostgresIntrospector(inner),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
      log: (event) => void statements.push(event.query.sql),
    });
    await claimOutboxBatch(pgCompiler, claim);
    assert.equal(
      statements[0],
      'update "outbox" set "claimed_by" = $1, "claimed_until" = $2 where "id" in (select "id" from "outbox" where "published_at" is null and "parked_at" is null and "next_attempt_at" <= $3 and ("claimed_until" is null or "claimed_until" < $4) order by "seq" limit $5 for update skip locked) returning *',
    );
  });
});

describe("outbox relays sharing one PostgreSQL outbox", () => {
  let database: TestPostgresDatabase;
  let db: Kysely<MessagingTables>;
  before(async () => {
    database = await createTestPostgresDatabase("outbox");
    db = createDatabase<MessagingTables>(database.url, { variable: "MEL_TEST_DATABASE_URL", maxConnections: 6 });
    await migrateToLatest(db, migrations, { tablePrefix: "test" });
  });
  after(async () => {
    await db?.destroy();
    await database?.drop();
  });

  test("a claim skips rows another relay's open transaction holds instead of waiting for them", async () => {
    await db.deleteFrom("outbox").execute();
    await db.transaction().execute(async (trx) => {
      for (let index = 0; index < 4; index++) await addToOutbox(trx, OrderStarted, order(`locked-${index}`));
    });
    const now = new Date();
    const claim = (relayId: string) => ({ relayId, batchSize: 2, now, claimedUntil: new Date(now.getTime() + 60_000) });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held: OutboxRow[] = [];
    // Relay A claims the two oldest rows and keeps its transaction (and row locks) open.
    const holding = awaitedLater(
      db.transaction().execute(async (trx) => {
        held = await claimOutboxBatch(trx, claim("relay-a"));
        await released;
      }),
    );
    try {
      await waitUntil("relay A to hold its batch", () => held.length === 2);
      // A claim that waited for relay A's row locks would fail with lock_timeout
      // (55P03) instead of hanging: however slow the machine, only a lock wait trips it.
      const taken = await db.transaction().execute(async (trx) => {
        await sql`set local lock_timeout = '5s'`.execute(trx);
        return claimOutboxBatch(trx, claim("relay-b"));
      });
      assert.equal(taken.length, 2);
      const heldIds = new Set(held.map((row) => row.id));
      assert.ok(
        taken.every((row) => !heldIds.has(row.id)),
        "relay B got the rows relay A does not hold",
      );
    } finally {
      release();
      await holding;
    }
    await db.deleteFrom("outbox").execute();
  });

  test("two relays on one outbox publish every event exactly once", async () => {
    const queue = await tapQueue("pg.two-relays", "OrderStarted");
    const total = 300;
    for (let start = 0; start < total; start += 50) {
      await db.transaction().execute(async (trx) => {
        for (let index = start; index < start + 50; index++) await addToOutbox(trx, OrderStarted, order(`two-${index}`));
      });
    }
    const publishedBy = [new Map<string, number>(), new Map<string, number>()];
    const relays = publishedBy.map((seen, index) =>
      createOutboxRelay({
        db,
        logger,
        relayId: `relay-${index}`,
        batchSize: 10,
        pollIntervalMs: 20,
        // Counts what each relay hands to the real bus.
        bus: {
          publishEncoded: async (event) => {
            await bus.publishEncoded(event);
            seen.set(event.eventId, (seen.get(event.eventId) ?? 0) + 1);
          },
        },
      }),
    );
    for (const relay of relays) relay.start();
    try {
      await probe.waitForReady(queue, total, 20_000);
      await waitUntil("every row to be marked published", async () => {
        const { pending } = await db
          .selectFrom("outbox")
          .select((eb) => eb.fn.countAll<string>().as("pending"))
          .where("published_at", "is", null)
          .executeTakeFirstOrThrow();
        return Number(pending) === 0;
      });
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
    const [first, second] = publishedBy as [Map<string, number>, Map<string, number>];
    const ids = (await db.selectFrom("outbox").select("id").execute()).map((row) => row.id);
    assert.equal(ids.length, total);
    for (const id of ids)
      assert.equal((first.get(id) ?? 0) + (second.get(id) ?? 0), 1, `event ${id} published ${(first.get(id) ?? 0) + (second.get(id) ?? 0)} times`);
    assert.ok(first.size > 0 && second.size > 0, `one relay did everything (${first.size}/${second.size}): claims did not interleave`);
    assert.equal(await probe.readyCount(queue), total);
  });
});
