// `mel projections rebuild orders` while ordering keeps serving: ordering on
// loopback (SQLite and PostgreSQL, real RabbitMQ, its read model on the
// MongoDB-protocol test server) loses its read model, checkouts and stock
// confirmations keep arriving while the CLI rebuilds it, and once they have
// settled the read model equals the write side, field by field and version by
// version.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { UserCheckoutAccepted } from "../gen/mel/events/v1/basket_events.js";
import { OrderStockConfirmed } from "../gen/mel/events/v1/catalog_events.js";
import { createEventBus, type EventBus } from "../platform/events/index.js";
import { runCli } from "../scripts/mel.js";
import { loadOrderingConfig } from "../services/ordering/config.js";
import { type RunningOrdering, startOrdering } from "../services/ordering/main.js";
import { findOrderView } from "../services/ordering/order-view.repository.js";
import { readModelDifferences } from "../services/ordering/order-view.test-support.js";
import {
  createTestTokens,
  openTestOrderingDatabase,
  quietLogger,
  type TestOrderingDatabase,
  testCheckout,
  testDialects,
} from "../services/ordering/ordering.test-support.js";
import { createTestMongoDatabase, stopMongoServer, type TestMongoDatabase } from "./support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "./support/rabbitmq.js";
import { waitUntil } from "./support/wait.js";

after(() => stopMongoServer());

for (const dialect of testDialects) {
  describe(`mel projections rebuild orders on ${dialect}`, () => {
    const prefix = uniqueName(`mel-projections-${dialect}`);
    let sql: TestOrderingDatabase;
    let readModelDb: TestMongoDatabase;
    let ordering: RunningOrdering;
    let bus: EventBus;

    before(async () => {
      await ensureRabbitMq();
      sql = await openTestOrderingDatabase(dialect);
      readModelDb = await createTestMongoDatabase(`mel_projections_${dialect}`);
      const config = loadOrderingConfig({
        MEL_LOG_LEVEL: "silent",
        MEL_ORDERING_HOST: "127.0.0.1",
        MEL_ORDERING_PORT: "0",
        MEL_ORDERING_DATABASE_URL: sql.url,
        MEL_ORDERING_MONGODB_URL: readModelDb.url,
        MEL_ORDERING_GRACE_PERIOD: "0",
        MEL_ORDERING_STEP_POLL_INTERVAL: "200",
        MEL_ORDERING_OUTBOX_POLL_INTERVAL: "200",
        MEL_ORDERING_EVENT_RETRY_DELAYS: "50,100",
        MEL_EVENTS_EXCHANGE: prefix,
        MEL_ORDERING_QUEUE: `${prefix}.ordering`,
        MEL_RABBITMQ_URL: rabbitMqUrl,
        MEL_ORDERING_DRAIN_TIMEOUT: "500",
      });
      ordering = await startOrdering({ config, authenticate: (await createTestTokens()).authenticate, logger: quietLogger });
      bus = await createEventBus({ url: rabbitMqUrl, logger: quietLogger, exchange: prefix, connectionName: "mel-projections-test" });
    });

    after(async () => {
      await bus?.close();
      await ordering?.stop();
      await readModelDb?.drop();
      await sql?.destroy();
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    });

    async function checkout(buyerId: string): Promise<string> {
      const event = testCheckout({ buyerId, buyerEmail: `${buyerId}@example.com` });
      await bus.publish(UserCheckoutAccepted, event);
      return event.orderId;
    }

    async function statusesOf(ids: readonly string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      return (
        await sql.db
          .selectFrom("orders")
          .select("status")
          .where("id", "in", [...ids])
          .execute()
      ).map((row) => row.status);
    }

    it("rebuilds a lost read model while checkouts keep running, ending equal to the write side", async () => {
      const earlier: string[] = [];
      for (let index = 0; index < 30; index++) earlier.push(await checkout(`buyer-earlier-${index % 7}`));
      await waitUntil("the earlier orders in the read model, awaiting their stock", async () => {
        const views = await Promise.all(earlier.map((id) => findOrderView(ordering.readModel, id)));
        return views.every((view) => view?.status === "AWAITING_VALIDATION");
      });
      // The read model is lost; only the rebuild brings these orders back, unless they change meanwhile.
      await ordering.readModel.views.deleteMany({}).exec();

      const out: string[] = [];
      const err: string[] = [];
      const rebuilt = runCli(["projections", "rebuild", "orders", "--page-size", "7"], {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        env: { MEL_ORDERING_DATABASE_URL: sql.url, MEL_ORDERING_MONGODB_URL: readModelDb.url },
      });
      // Meanwhile: new checkouts, and half the earlier orders move on to PAID.
      const later: string[] = [];
      const traffic = (async () => {
        for (let index = 0; index < 30; index++) {
          later.push(await checkout(`buyer-later-${index % 5}`));
          if (index % 2 === 0) await bus.publish(OrderStockConfirmed, { orderId: earlier[index] as string });
        }
      })();
      const [code] = await Promise.all([rebuilt, traffic]);

      assert.equal(code, 0, err.join("\n"));
      assert.match(out.join("\n"), /^rebuilt the orders read model in \d+\.\d s: \d+ order\(s\) looked at, \d+ written, \d+ already current/);
      assert.match(err[0] ?? "", /^rebuilding orders: 0\/\d+ looked at/, "plain progress lines when stderr is not a terminal");
      assert.match(err.at(-1) ?? "", /^rebuilding orders: (\d+)\/\1 looked at/, "the last line shows every order looked at");

      await waitUntil(
        "the checkouts and payments to settle",
        async () => {
          const confirmed = earlier.filter((_, index) => index % 2 === 0);
          const [paid, waiting] = await Promise.all([statusesOf(confirmed), statusesOf(later)]);
          return (
            paid.length === confirmed.length &&
            paid.every((s) => s === "PAID") &&
            waiting.length === later.length &&
            waiting.every((s) => s === "AWAITING_VALIDATION")
          );
        },
        30_000,
        100,
      );
      let differences: string[] = ["not compared yet"];
      // The projection may still be applying the last events: wait for the two sides to agree, then show what differs if they never did.
      await waitUntil(
        "the read model to equal the write side",
        async () => {
          differences = await readModelDifferences(sql.db, ordering.readModel);
          return differences.length === 0;
        },
        30_000,
        100,
      ).catch(() => undefined);
      assert.deepEqual(differences, []);
      assert.equal(await ordering.readModel.views.countDocuments().exec(), 60);
    });
  });
}
