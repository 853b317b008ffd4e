// The whole purchase under load: MEL_BENCH_BUYERS buyers (200) check out at
// once and the saga runs to PAID (basket → ordering → catalog → ordering →
// payment → catalog) with grace period 0. Each service is its own process at
// its default log level, on PostgreSQL (identity, catalog, ordering) and
// FerretDB on PostgreSQL (basket), over RabbitMQ. Buyers, logins and baskets
// are made first and not measured. Reported: orders/s, the latency of each
// order from its Checkout call to its PAID status change, and the CPU per
// order of every process involved, from /proc.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import pg from "pg";
import { BasketServiceClient } from "../gen/mel/basket/v1/basket.js";
import { CatalogServiceClient, ItemSort } from "../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../gen/mel/identity/v1/identity.js";
import { callUnary } from "../platform/grpc/index.js";
import { createTestMongoDatabase, ensureMongoServer, stopMongoServer } from "../test/support/ferretdb.js";
import { freePort } from "../test/support/ports.js";
import { createTestPostgresDatabase, ensurePostgres, postgresAdminUrl } from "../test/support/postgres.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../test/support/rabbitmq.js";
import { waitUntil } from "../test/support/wait.js";
import { cleanUp, describeMachine, formatNumber, percentile, printTable, readBenchSettings, runPool } from "./harness.js";
import { type BenchProcess, builtEntry, cpuMeter, parentOf, pidsByCommand, startProcess } from "./processes.js";

const settings = readBenchSettings();
const buyersCount = settings.buyers;
const dir = mkdtempSync(join(tmpdir(), "mel-bench-checkout-"));
const cleanups: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];

try {
  await Promise.all([ensureRabbitMq(), ensurePostgres(), ensureMongoServer()]);
  cleanups.push(() => stopMongoServer());
  const prefix = uniqueName("bench-checkout");
  cleanups.push(async () => {
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
  });
  const databases = {
    identity: await createTestPostgresDatabase("bench_identity"),
    catalog: await createTestPostgresDatabase("bench_catalog"),
    ordering: await createTestPostgresDatabase("bench_ordering"),
  };
  const mongo = await createTestMongoDatabase("bench_basket");
  const orderingMongo = await createTestMongoDatabase("bench_ordering");
  cleanups.push(() => Promise.all([...Object.values(databases).map((database) => database.drop()), mongo.drop(), orderingMongo.drop()]));

  const ports = { identity: await freePort(), catalog: await freePort(), basket: await freePort(), ordering: await freePort() };
  const address = (port: number) => `127.0.0.1:${port}`;
  const common: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MEL_RABBITMQ_URL: rabbitMqUrl,
    MEL_EVENTS_EXCHANGE: `${prefix}.events`,
    MEL_IDENTITY_ADDRESS: address(ports.identity),
  };
  const services: BenchProcess[] = [];
  const start = async (name: keyof typeof ports, env: NodeJS.ProcessEnv) => {
    const entry = builtEntry(`services/${name}/main.ts`);
    const upper = name.toUpperCase();
    const started = await startProcess({
      name,
      ...entry,
      port: ports[name],
      logFile: join(dir, `${name}.log`),
      env: { ...common, [`MEL_${upper}_HOST`]: "127.0.0.1", [`MEL_${upper}_PORT`]: String(ports[name]), [`MEL_${upper}_QUEUE`]: `${prefix}.${name}`, ...env },
    });
    services.push(started);
    cleanups.push(() => started.stop());
  };
  await start("identity", {
    MEL_IDENTITY_DATABASE_URL: databases.identity.url,
    // The lowest scrypt cost identity accepts: registering the buyers is set-up, not the measure.
    MEL_IDENTITY_PASSWORD_HASH_COST: "10",
    MEL_IDENTITY_DEV_KEY_FILE: join(dir, "identity-kek"),
  });
  await start("catalog", { MEL_CATALOG_DATABASE_URL: databases.catalog.url, MEL_CATALOG_DATABASE_MAX_CONNECTIONS: "16" });
  await start("basket", {
    MEL_BASKET_MONGODB_URL: mongo.url,
    MEL_CATALOG_ADDRESS: address(ports.catalog),
    MEL_BASKET_PAYMENT_TOKEN_KEY: randomBytes(32).toString("base64"),
  });
  await start("ordering", {
    MEL_ORDERING_DATABASE_URL: databases.ordering.url,
    MEL_ORDERING_DATABASE_MAX_CONNECTIONS: "16",
    MEL_ORDERING_MONGODB_URL: orderingMongo.url,
    MEL_ORDERING_GRACE_PERIOD: "0",
  });

  const identity = new IdentityServiceClient(address(ports.identity), credentials.createInsecure());
  const catalog = new CatalogServiceClient(address(ports.catalog), credentials.createInsecure());
  const basket = new BasketServiceClient(address(ports.basket), credentials.createInsecure());
  cleanups.push(async () => {
    for (const client of [identity, catalog, basket]) client.close();
  });
  const withToken = (token: string, deadlineMs = 60_000) => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return { metadata, deadline: new Date(Date.now() + deadlineMs) };
  };

  // Enough stock that every order is paid: the bench measures the saga, not the sold-out path.
  const admin = new pg.Pool({ connectionString: databases.catalog.url, max: 1 });
  cleanups.push(() => admin.end());
  const { items } = await callUnary(catalog, "listItems", {
    pageSize: 1,
    pageToken: "",
    pageNumber: 0,
    brandId: "",
    typeId: "",
    query: "",
    sort: ItemSort.ITEM_SORT_UNSPECIFIED,
  });
  const item = items[0];
  if (item === undefined) throw new Error("the demo catalogue is empty");
  await admin.query("update catalog_item set available_stock = $1, max_stock = $1 where id = $2", [buyersCount * 10, item.id]);

  console.log(
    `checkout bench: ${buyersCount} buyers check out at once, ${describeMachine(settings)}; services not pinned (they share the cores, as in npm start)`,
  );
  const buyers = await mapLimited(buyersCount, 20, async (index) => {
    const email = `bench-${index}-${randomBytes(4).toString("hex")}@bench.lojasmel.test`;
    const password = `senha-${randomBytes(6).toString("hex")}`;
    await callUnary(identity, "register", { email, password, displayName: `Comprador ${index}` });
    const { accessToken } = await callUnary(identity, "login", { email, password });
    await callUnary(basket, "addItem", { productId: item.id, quantity: 1 }, withToken(accessToken));
    return accessToken;
  });

  // Every process the purchase runs through: our services and FerretDB by pid;
  // PostgreSQL backends by the databases they serve; PostgreSQL's background
  // workers and RabbitMQ are shared with whatever else runs on the machine.
  const ferretdb = pidsByCommand((comm) => comm.startsWith("mel-ferretdb")).filter((pid) => parentOf(pid) === process.pid);
  const monitor = new pg.Pool({ connectionString: postgresAdminUrl, max: 1 });
  cleanups.push(() => monitor.end());
  const serviceDatabases = new Set(Object.values(databases).map((database) => database.name));
  let backends = { ours: [] as number[], ferretdb: [] as number[], background: [] as number[] };
  const refreshBackends = async () => {
    const { rows } = await monitor.query<{ pid: number; datname: string | null; backend_type: string }>(
      "select pid, datname, backend_type from pg_stat_activity where pid <> pg_backend_pid()",
    );
    const client = rows.filter((row) => row.backend_type === "client backend");
    backends = {
      ours: client.filter((row) => serviceDatabases.has(row.datname ?? "")).map((row) => row.pid),
      // test/support/ferretdb names FerretDB's backing database with the pid of the process that started it.
      ferretdb: client.filter((row) => row.datname?.startsWith(`mel_ferretdb_${process.pid}_`)).map((row) => row.pid),
      background: rows.filter((row) => row.backend_type !== "client backend").map((row) => row.pid),
    };
  };
  await refreshBackends();
  const meters = {
    services: cpuMeter(() => services.map((service) => service.pid)),
    ferretdb: cpuMeter(() => ferretdb),
    postgresForServices: cpuMeter(() => backends.ours),
    postgresForFerretDb: cpuMeter(() => backends.ferretdb),
    postgresBackground: cpuMeter(() => backends.background),
    rabbitmq: cpuMeter(() => pidsByCommand((comm) => comm === "beam.smp")),
  };
  const perService = new Map(services.map((service) => [service.name, service.cpuSeconds()]));
  for (const meter of Object.values(meters)) meter.start();

  const ordering = new pg.Pool({ connectionString: databases.ordering.url, max: 1 });
  cleanups.push(() => ordering.end());
  const startedAt = new Map<string, number>();
  const runStarted = Date.now();
  const checkouts = Promise.all(
    buyers.map(async (token) => {
      const sent = Date.now();
      const { orderId } = await callUnary(
        basket,
        "checkout",
        {
          requestId: randomUUID(),
          address: { street: "Rua das Flores, 10", city: "São Paulo", state: "SP", country: "BR", zipCode: "01000-000" },
          card: { number: "4111 1111 1111 1111", holderName: "Maria Silva", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 3, securityCode: "123" },
        },
        withToken(token, 120_000),
      );
      startedAt.set(orderId, sent);
    }),
  );
  await checkouts;
  await waitUntil(
    `all ${buyersCount} orders to be PAID`,
    async () => {
      await refreshBackends();
      for (const meter of Object.values(meters)) meter.sample();
      const { rows } = await ordering.query<{ count: string }>("select count(*) as count from orders where status = 'PAID'");
      return Number(rows[0]?.count) === buyersCount;
    },
    300_000,
    100,
  );
  const cpu = Object.fromEntries(Object.entries(meters).map(([name, meter]) => [name, meter.read()])) as Record<keyof typeof meters, number>;
  const { rows: paid } = await ordering.query<{ order_id: string; change_time: string }>(
    "select order_id, change_time from order_status_change where status = 'PAID'",
  );
  const latencies = Float64Array.from(paid.map((row) => Date.parse(row.change_time) - (startedAt.get(row.order_id) ?? Number.NaN))).sort();
  const lastPaid = Math.max(...paid.map((row) => Date.parse(row.change_time)));
  const seconds = (lastPaid - runStarted) / 1000;
  const ms = (value: number) => formatNumber(value, 1);

  printTable(
    `${buyersCount} checkouts at once → PAID (grace 0)`,
    ["orders", "seconds", "orders/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
    [
      [
        formatNumber(paid.length),
        formatNumber(seconds, 2),
        formatNumber(paid.length / seconds, 1),
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 95)),
        ms(percentile(latencies, 99)),
        ms(latencies[latencies.length - 1] ?? Number.NaN),
      ],
    ],
  );
  const perOrderMs = (cpuSeconds: number) => formatNumber((cpuSeconds / paid.length) * 1000, 2);
  const ferretShare = cpu.ferretdb + cpu.postgresForFerretDb;
  const total = Object.values(cpu).reduce((sum, value) => sum + value, 0);
  printTable(
    "CPU per order (from /proc/<pid>/stat; shared means other work on the machine is counted too)",
    ["process", "CPU s", "CPU ms/order"],
    [
      ...services.map((service) => {
        const used = service.cpuSeconds() - (perService.get(service.name) ?? 0);
        return [service.name, formatNumber(used, 2), perOrderMs(used)];
      }),
      ["FerretDB", formatNumber(cpu.ferretdb, 2), perOrderMs(cpu.ferretdb)],
      ["PostgreSQL backends for FerretDB", formatNumber(cpu.postgresForFerretDb, 2), perOrderMs(cpu.postgresForFerretDb)],
      ["PostgreSQL backends for the services", formatNumber(cpu.postgresForServices, 2), perOrderMs(cpu.postgresForServices)],
      ["PostgreSQL background (shared)", formatNumber(cpu.postgresBackground, 2), perOrderMs(cpu.postgresBackground)],
      ["RabbitMQ (shared)", formatNumber(cpu.rabbitmq, 2), perOrderMs(cpu.rabbitmq)],
      ["all of the above", formatNumber(total, 2), perOrderMs(total)],
      ["of which FerretDB and its backends", formatNumber(ferretShare, 2), perOrderMs(ferretShare)],
    ],
  );
} finally {
  await cleanUp(cleanups);
}

async function mapLimited<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  await runPool(count, limit, async (index) => {
    results[index] = await task(index);
  });
  return results;
}
