import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { type Kysely, type Migration, sql } from "kysely";
import { createTestPostgresDatabase, type TestPostgresDatabase } from "../../test/support/postgres.js";
import { type AnyKysely, tediousConnectionConfig, withStatementCache } from "./database.js";
import {
  booleanColumn,
  bytesColumn,
  createDatabase,
  DatabaseUrlError,
  dialectOf,
  isMssql,
  isoTimeColumn,
  MigrationError,
  migrateToLatest,
  parseDatabaseUrl,
  unicodeText,
  withAutoIncrementPrimaryKey,
} from "./index.js";
import { captureMssqlStatements, createMssqlCompiler } from "./mssql-compiler.test-support.js";

const variable = "MEL_TEST_DATABASE_URL";

describe("parseDatabaseUrl", () => {
  test("unset or empty means the default SQLite file", () => {
    assert.deepEqual(parseDatabaseUrl(undefined, { variable, defaultSqliteFile: "data/x.db" }), { kind: "sqlite", file: "data/x.db" });
    assert.deepEqual(parseDatabaseUrl("  ", { variable }), { kind: "sqlite", file: ":memory:" });
  });

  test("sqlite: forms name a file or memory", () => {
    assert.deepEqual(parseDatabaseUrl("sqlite::memory:", { variable }), { kind: "sqlite", file: ":memory:" });
    assert.deepEqual(parseDatabaseUrl("sqlite:data/catalog.db", { variable }), { kind: "sqlite", file: "data/catalog.db" });
    assert.deepEqual(parseDatabaseUrl("sqlite:///tmp/catalog.db", { variable }), { kind: "sqlite", file: "/tmp/catalog.db" });
  });

  test("postgres and postgresql URLs go to PostgreSQL unchanged", () => {
    for (const url of ["postgres://u@127.0.0.1:5432/db", "postgresql://u:p@db.local/db?sslmode=require"]) {
      assert.deepEqual(parseDatabaseUrl(url, { variable }), { kind: "postgres", connectionString: url });
    }
  });

  test("mssql URL gives server, port, database, credentials and TLS flags", () => {
    assert.deepEqual(parseDatabaseUrl("mssql://sa:p%40ss@sql.local:1401/catalog?encrypt=true&trustServerCertificate=true", { variable }), {
      kind: "mssql",
      server: "sql.local",
      port: 1401,
      database: "catalog",
      userName: "sa",
      password: "p@ss",
      encrypt: true,
      trustServerCertificate: true,
    });
    const defaults = parseDatabaseUrl("mssql://app:pw@sql.local/ordering", { variable });
    assert.equal(defaults.kind === "mssql" && defaults.port, 1433);
    assert.equal(defaults.kind === "mssql" && defaults.encrypt, true);
    assert.equal(defaults.kind === "mssql" && defaults.trustServerCertificate, false);
  });

  test("bad URLs fail with the variable's name and no password", () => {
    const cases = [
      "mysql://u:secret@host/db",
      "not a url",
      "mssql://u:secret@host:1433/",
      "mssql://host:1433/db",
      "mssql://u:secret@host/db?encrypt=maybe",
      "sqlite:",
    ];
    for (const url of cases) {
      assert.throws(
        () => parseDatabaseUrl(url, { variable }),
        (error: unknown) => error instanceof DatabaseUrlError && error.message.includes(variable) && !error.message.includes("secret"),
        url,
      );
    }
  });
});

interface NoteTable {
  id: number;
  body: string;
  payload: Buffer;
  done: number | boolean;
  created_at: string;
}

const notesMigration: Migration = {
  async up(db: AnyKysely) {
    await withAutoIncrementPrimaryKey(db, db.schema.createTable("note"), "id")
      .addColumn("body", unicodeText(db, 200), (col) => col.notNull().unique())
      .addColumn("payload", bytesColumn(db), (col) => col.notNull())
      .addColumn("done", booleanColumn(db), (col) => col.notNull())
      .addColumn("created_at", isoTimeColumn, (col) => col.notNull())
      .execute();
  },
  async down(db: AnyKysely) {
    await db.schema.dropTable("note").execute();
  },
};

async function exerciseNotes(db: Kysely<{ note: NoteTable }>): Promise<void> {
  assert.deepEqual(await migrateToLatest(db, { "0001_notes": notesMigration }, { tablePrefix: "test" }), ["0001_notes"]);
  // Running again at start-up applies nothing.
  assert.deepEqual(await migrateToLatest(db, { "0001_notes": notesMigration }, { tablePrefix: "test" }), []);
  const payload = Buffer.from([0, 1, 2, 255]);
  await db
    .insertInto("note")
    .values({ body: "olá ✓", payload, done: true, created_at: new Date(0).toISOString() } as never)
    .execute();
  const row = await db.selectFrom("note").selectAll().executeTakeFirstOrThrow();
  assert.equal(row.body, "olá ✓");
  assert.deepEqual(Buffer.from(row.payload), payload);
  assert.equal(Number(row.id), 1);
  assert.equal(Boolean(row.done), true);
  await assert.rejects(
    db
      .insertInto("note")
      .values({ body: "olá ✓", payload, done: false, created_at: "x" } as never)
      .execute(),
  );
}

describe("createDatabase on SQLite", () => {
  const dir = mkdtempSync(join(tmpdir(), "mel-sql-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("creates the file and its folder, in WAL mode, and runs migrations", async () => {
    const file = join(dir, "nested", "notes.db");
    const db = createDatabase<{ note: NoteTable }>(`sqlite:${file}`, { variable });
    try {
      assert.equal(dialectOf(db), "sqlite");
      assert.ok(existsSync(file));
      const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      assert.equal(rows[0]?.journal_mode, "wal");
      await exerciseNotes(db);
      await db.transaction().execute(async (trx) => assert.equal(dialectOf(trx), "sqlite"));
    } finally {
      await db.destroy();
    }
  });

  test("a failed migration is reported by name and leaves earlier ones applied", async () => {
    const db = createDatabase<any>("sqlite::memory:", { variable });
    try {
      const broken: Migration = { up: async (inner) => void (await sql`select * from missing_table`.execute(inner)) };
      await assert.rejects(
        migrateToLatest(db, { "0001_notes": notesMigration, "0002_broken": broken }, { tablePrefix: "svc" }),
        (error: unknown) => error instanceof MigrationError && error.message.includes("0002_broken"),
      );
      const applied = await db.selectFrom("svc_migration").select("name").execute();
      assert.deepEqual(
        applied.map((row: { name: string }) => row.name),
        ["0001_notes"],
      );
    } finally {
      await db.destroy();
    }
  });
});

describe("SQLite statement cache", () => {
  const open = () => {
    const raw = new BetterSqlite3(":memory:");
    raw.exec("create table item (id integer primary key, name text)");
    raw.exec("insert into item (id, name) values (1, 'mel'), (2, 'favo')");
    return raw;
  };

  test("the same SQL text is prepared once and each call binds its own parameters", () => {
    const raw = open();
    const cached = withStatementCache(raw);
    const first = cached.prepare("select name from item where id = ?");
    const second = cached.prepare("select name from item where id = ?");
    assert.equal(second, first);
    assert.deepEqual(first.all([1]), [{ name: "mel" }]);
    assert.deepEqual(second.all([2]), [{ name: "favo" }]);
    assert.notEqual(cached.prepare("select id from item where id = ?"), first, "another text is another statement");
    cached.close();
  });

  test("beyond its size the least recently used statement is prepared again", () => {
    const raw = open();
    const cached = withStatementCache(raw, 2);
    const a = cached.prepare("select 1 as a");
    const b = cached.prepare("select 2 as b");
    assert.equal(cached.prepare("select 1 as a"), a, "a used again, so b is now the oldest");
    cached.prepare("select 3 as c");
    assert.equal(cached.prepare("select 1 as a"), a);
    assert.notEqual(cached.prepare("select 2 as b"), b);
    cached.close();
  });

  test("a query run again after a schema change sees the new columns", async () => {
    const db = createDatabase<{ item: { id: number; name: string; stock?: number } }>("sqlite::memory:", { variable });
    await sql`create table item (id integer primary key, name text)`.execute(db);
    await db.insertInto("item").values({ id: 1, name: "mel" }).execute();
    const all = () => db.selectFrom("item").selectAll().execute();
    assert.deepEqual(await all(), [{ id: 1, name: "mel" }]);
    await sql`alter table item add column stock integer not null default 7`.execute(db);
    assert.deepEqual(await all(), [{ id: 1, name: "mel", stock: 7 }]);
    await db.destroy();
  });
});

describe("createDatabase on PostgreSQL", () => {
  let database: TestPostgresDatabase;
  before(async () => {
    database = await createTestPostgresDatabase("sql_factory");
  });
  after(() => database.drop());

  test("connects from a postgres:// URL and runs the same migration", async () => {
    const db = createDatabase<{ note: NoteTable }>(database.url, { variable });
    try {
      assert.equal(dialectOf(db), "postgres");
      await exerciseNotes(db);
      const { rows } = await sql<{ data_type: string }>`
        select data_type from information_schema.columns where table_name = 'note' and column_name = 'payload'`.execute(db);
      assert.equal(rows[0]?.data_type, "bytea");
    } finally {
      await db.destroy();
    }
  });
});

describe("migrations on PostgreSQL", () => {
  let database: TestPostgresDatabase;
  before(async () => {
    database = await createTestPostgresDatabase("sql_concurrent_migrations");
  });
  after(() => database.drop());

  test("two instances starting together on one database apply each migration once", async () => {
    // Two pods of a new rollout: separate pools, migrating at the same moment.
    const instances = [createDatabase(database.url, { variable }), createDatabase(database.url, { variable })];
    try {
      const applied = await Promise.all(instances.map((db) => migrateToLatest(db, { "0001_notes": notesMigration }, { tablePrefix: "svc" })));
      assert.deepEqual(applied.flat(), ["0001_notes"]);
      const { rows } = await sql<{ name: string }>`select name from svc_migration`.execute(instances[0]!);
      assert.deepEqual(
        rows.map((row) => row.name),
        ["0001_notes"],
      );
    } finally {
      await Promise.all(instances.map((db) => db.destroy()));
    }
  });
});

describe("SQL Server compilation", () => {
  test("an mssql:// URL builds a SQL Server Kysely without connecting", async () => {
    const db = createDatabase<any>("mssql://app:pw@127.0.0.1:1/db?trustServerCertificate=true", { variable });
    assert.equal(isMssql(db), true);
    await db.destroy();
  });

  test("the URL's server, port, database, credentials and TLS flags are what every tedious connection opens with", () => {
    const target = parseDatabaseUrl("mssql://app:p%40ss@sql.local:1401/catalog?encrypt=false&trustServerCertificate=true", { variable });
    assert.ok(target.kind === "mssql");
    assert.deepEqual(tediousConnectionConfig(target), {
      server: "sql.local",
      authentication: { type: "default", options: { userName: "app", password: "p@ss" } },
      options: { port: 1401, database: "catalog", encrypt: false, trustServerCertificate: true },
    });
  });

  test("the encrypt flag reaches the wire: tedious's PRELOGIN asks for TLS only with encrypt=true", async () => {
    // A loopback listener stands where SQL Server would and reads the first TDS
    // packet: PRELOGIN (type 0x12), whose ENCRYPTION option is ON (1) or NOT_SUP (2).
    const encryptionByteOf = (packet: Buffer): number | undefined => {
      for (let at = 8; at < packet.length && packet[at] !== 0xff; at += 5) {
        if (packet[at] === 0x01) return packet[8 + packet.readUInt16BE(at + 1)];
      }
      return undefined;
    };
    for (const [query, expected] of [
      ["encrypt=true", 1],
      ["encrypt=false", 2],
    ] as const) {
      const listener = createServer((socket) => socket.on("error", () => undefined));
      const firstPacket = new Promise<Buffer>((resolve) =>
        listener.once("connection", (socket) =>
          socket.once("data", (data) => {
            resolve(data);
            socket.destroy();
          }),
        ),
      );
      await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
      const { port } = listener.address() as AddressInfo;
      const db = createDatabase<any>(`mssql://app:pw@127.0.0.1:${port}/db?${query}`, { variable });
      const attempt = sql`select 1`.execute(db).catch((error: unknown) => error);
      try {
        const packet = await firstPacket;
        assert.equal(packet[0], 0x12, "the first packet is PRELOGIN");
        assert.equal(encryptionByteOf(packet), expected, query);
      } finally {
        await db.destroy();
        await attempt;
        listener.close();
      }
    }
  });

  test("the portable migration compiles to T-SQL with nvarchar, varbinary, bit and IDENTITY", async () => {
    const statements = await captureMssqlStatements((db) => notesMigration.up(db));
    assert.equal(statements.length, 1);
    assert.equal(
      statements[0],
      'create table "note" ("id" bigint identity primary key, "body" nvarchar(200) not null unique, "payload" varbinary(max) not null, "done" bit not null, "created_at" varchar(32) not null)',
    );
  });

  test("queries compile to T-SQL paging", () => {
    const { db } = createMssqlCompiler<{ note: NoteTable }>();
    const compiled = db.selectFrom("note").select("id").orderBy("id").offset(10).fetch(5).compile();
    assert.equal(compiled.sql, 'select "id" from "note" order by "id" offset @1 rows fetch next @2 rows only');
    assert.deepEqual(compiled.parameters, [10, 5]);
  });
});
