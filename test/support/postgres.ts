// Shared PostgreSQL setup for tests: make sure the server is up (start the
// local cluster when it is not), then give each test file a fresh, uniquely
// named database that is dropped afterwards, so test files never share state.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import pg from "pg";

/** The maintenance database tests connect to for CREATE/DROP DATABASE. */
export const postgresAdminUrl = process.env.MEL_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function canConnect(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function startLocalCluster(): void {
  // Debian's cluster layout: /etc/postgresql/<version>/main.
  for (const version of readdirSync("/etc/postgresql")) {
    execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"], { stdio: "ignore" });
  }
}

let ensured: Promise<void> | undefined;

/**
 * Resolves once PostgreSQL at postgresAdminUrl answers, starting the local
 * cluster if it does not. Rejects with the reason when it stays unreachable:
 * a test that needs PostgreSQL fails loudly rather than skipping.
 */
export function ensurePostgres(): Promise<void> {
  ensured ??= (async () => {
    if ((await canConnect(postgresAdminUrl)) === undefined) return;
    try {
      startLocalCluster();
    } catch {
      // Not a Debian cluster or already starting; the wait below reports the outcome.
    }
    let lastError: string | undefined;
    for (let attempt = 0; attempt < 30; attempt++) {
      lastError = await canConnect(postgresAdminUrl);
      if (lastError === undefined) return;
      await new Promise((wake) => setTimeout(wake, 500));
    }
    ensured = undefined;
    throw new Error(
      `PostgreSQL is unreachable at ${postgresAdminUrl.replace(/:[^:@/]*@/, ":***@")} (${lastError}); ` +
        "start it (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set MEL_TEST_POSTGRES_URL",
    );
  })();
  return ensured;
}

export interface TestPostgresDatabase {
  /** Connection URL of the fresh database, for createDatabase(). */
  url: string;
  name: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** Creates an empty database named `mel_<label>_<random>` after ensurePostgres(). */
export async function createTestPostgresDatabase(label: string): Promise<TestPostgresDatabase> {
  await ensurePostgres();
  const name = `mel_${label.toLowerCase().replace(/[^a-z0-9]+/g, "_")}_${randomBytes(4).toString("hex")}`.slice(0, 63);
  await withAdminClient((client) => client.query(`create database "${name}"`));
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdminClient((client) => client.query(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  };
}

/**
 * Drops databases named `mel_<label>_<pid>_…` whose creating process (pid) is
 * gone: what a killed test run left behind. A pid taken again by a live
 * process keeps its database, the safe side.
 */
export async function dropOrphanedTestDatabases(label: string): Promise<string[]> {
  await ensurePostgres();
  const prefix = `mel_${label}_`;
  const { rows } = await withAdminClient((client) =>
    client.query<{ datname: string }>("select datname from pg_database where starts_with(datname, $1)", [prefix]),
  );
  const orphaned = rows
    .map((row) => row.datname)
    .filter((name) => {
      const pid = Number(/^(\d+)_/.exec(name.slice(prefix.length))?.[1]);
      return Number.isInteger(pid) && pid > 0 && !isAlive(pid);
    });
  for (const name of orphaned) await withAdminClient((client) => client.query(`drop database if exists "${name}" with (force)`));
  return orphaned;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
