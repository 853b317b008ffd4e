// What the transactional outbox costs against publishing straight to
// RabbitMQ: the same N events published with confirms by the bus (the
// baseline), then written one per transaction with addToOutbox on SQLite and
// on PostgreSQL and published by createOutboxRelay. Each scenario is timed
// until a subscriber on its own connection has received every event, so all
// three measure the same thing: events that reached a consumer per second.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Kysely } from "kysely";
import { OrderStarted } from "../gen/mel/events/v1/ordering_events.js";
import {
  addToOutbox,
  createEventBus,
  createOutboxRelay,
  type EventBus,
  type MessagingTables,
  messagingTablesMigration,
  outboxParkingMigration,
} from "../platform/events/index.js";
import { createLogger } from "../platform/log/index.js";
import { createDatabase, migrateToLatest } from "../platform/sql/index.js";
import { createTestPostgresDatabase } from "../test/support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../test/support/rabbitmq.js";
import { cleanUp, describeMachine, formatNumber, printTable, ratio, readBenchSettings, runPool } from "./harness.js";

const settings = readBenchSettings();
const quiet = createLogger({ service: "bench", level: "silent" });
const prefix = uniqueName("bench-events");
const exchange = `${prefix}.events`;
// Warm-up rounds are small: they only have to open pools and compile the hot paths.
const warmupEvents = Math.max(1, Math.min(200, Math.floor(settings.events / 10)));
const consumeTimeoutMs = 60_000;

interface Scenario {
  name: string;
  /** Sends `count` events; resolves once all are published (bus) or committed (outbox). */
  send(count: number): Promise<void>;
}

interface EventsResult {
  name: string;
  sentSeconds: number;
  consumedSeconds: number;
}

/** Counts deliveries and lets a scenario wait until a number of them has arrived. */
function createSink() {
  let received = 0;
  let waiter: { target: number; resolve(): void } | undefined;
  return {
    onEvent: async () => {
      received += 1;
      if (waiter && received >= waiter.target) waiter.resolve();
    },
    get received() {
      return received;
    },
    until(target: number): Promise<void> {
      if (received >= target) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the subscriber received ${received} of ${target} events within ${consumeTimeoutMs} ms`)),
          consumeTimeoutMs,
        );
        waiter = {
          target,
          resolve: () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          },
        };
      });
    },
  };
}

const event = (index: number) => ({ orderId: `order-${index}`, buyerId: "bench-buyer", checkoutRequestId: `checkout-${index}` });

/** An outbox on `db` whose relay publishes through `bus`; one event per transaction, as a service writes them. */
async function outboxScenario(name: string, db: Kysely<MessagingTables>, bus: EventBus): Promise<{ scenario: Scenario; stop(): Promise<void> }> {
  await migrateToLatest(db, { "0000_messaging_tables": messagingTablesMigration, "0001_outbox_parking": outboxParkingMigration }, { tablePrefix: "bench" });
  const relay = createOutboxRelay({ db, bus, logger: quiet });
  relay.start();
  return {
    scenario: {
      name,
      send: (count) =>
        runPool(count, settings.concurrency, async (index) => {
          await db.transaction().execute((trx) => addToOutbox(trx, OrderStarted, event(index)));
          relay.notify();
        }),
    },
    stop: () => relay.stop(),
  };
}

await ensureRabbitMq();
const cleanups: Array<() => Promise<unknown>> = [
  async () => {
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
  },
];

try {
  const publisher = await createEventBus({ url: rabbitMqUrl, logger: quiet, exchange, connectionName: "bench-publisher" });
  cleanups.push(() => publisher.close());
  const consumer = await createEventBus({ url: rabbitMqUrl, logger: quiet, exchange, connectionName: "bench-consumer" });
  cleanups.push(() => consumer.close());
  const sink = createSink();
  await consumer.subscribe({ queue: `${prefix}.sink`, handlers: { OrderStarted: sink.onEvent }, prefetch: 200, retryDelaysMs: [100] });

  const dir = mkdtempSync(join(tmpdir(), "mel-bench-outbox-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const sqlite = createDatabase<MessagingTables>(`sqlite:${join(dir, "outbox.db")}`, { variable: "MEL_BENCH_SQLITE_URL" });
  cleanups.push(() => sqlite.destroy());
  const database = await createTestPostgresDatabase("bench_outbox");
  cleanups.push(() => database.drop());
  const postgres = createDatabase<MessagingTables>(database.url, { variable: "MEL_BENCH_POSTGRES_URL" });
  cleanups.push(() => postgres.destroy());

  const direct: Scenario = {
    name: "bus.publish with confirms (baseline)",
    send: (count) =>
      runPool(count, settings.concurrency, async (index) => {
        await publisher.publish(OrderStarted, event(index));
      }),
  };
  const onSqlite = await outboxScenario("outbox + relay, SQLite", sqlite, publisher);
  cleanups.push(() => onSqlite.stop());
  const onPostgres = await outboxScenario("outbox + relay, PostgreSQL", postgres, publisher);
  cleanups.push(() => onPostgres.stop());

  console.log(`events bench: ${settings.events} OrderStarted events per scenario, ${describeMachine(settings)}, warm-up ${warmupEvents} events`);
  const results: EventsResult[] = [];
  for (const scenario of [direct, onSqlite.scenario, onPostgres.scenario]) {
    // Targets are fixed before sending: fast deliveries can arrive before send() resolves.
    const warmedUp = sink.received + warmupEvents;
    await scenario.send(warmupEvents);
    await sink.until(warmedUp);
    const target = sink.received + settings.events;
    const started = performance.now();
    await scenario.send(settings.events);
    const sentSeconds = (performance.now() - started) / 1000;
    await sink.until(target);
    results.push({ name: scenario.name, sentSeconds, consumedSeconds: (performance.now() - started) / 1000 });
  }

  const [baseline] = results as [EventsResult];
  const perSecond = (result: EventsResult) => settings.events / result.consumedSeconds;
  printTable(
    `${settings.events} events, ${settings.concurrency} producers in flight (events/s ratio: above 1 is faster than baseline)`,
    ["scenario", "sent s", "consumed s", "events/s", "events/s vs base"],
    results.map((result) => [
      result.name,
      formatNumber(result.sentSeconds, 2),
      formatNumber(result.consumedSeconds, 2),
      formatNumber(perSecond(result)),
      ratio(perSecond(result), perSecond(baseline)),
    ]),
  );
} finally {
  await cleanUp(cleanups);
}
