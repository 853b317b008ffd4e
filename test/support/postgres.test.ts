import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, describe, it } from "node:test";
import pg from "pg";
import { createTestPostgresDatabase, dropOrphanedTestDatabases, postgresAdminUrl, type TestPostgresDatabase } from "./postgres.js";

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresAdminUrl });
  await client.connect();
  try {
    return (await client.query("select 1 from pg_database where datname = $1", [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

describe("test PostgreSQL databases", () => {
  const made: TestPostgresDatabase[] = [];
  after(async () => {
    for (const database of made) await database.drop();
  });

  it("drops the databases of a test process that is gone and keeps a live one's", async () => {
    // A process that has exited: its pid names a database nobody will clean up.
    const gone = spawnSync(process.execPath, ["-e", ""]);
    assert.ok(gone.pid);
    const orphan = await createTestPostgresDatabase(`orphantest_${gone.pid}`);
    const live = await createTestPostgresDatabase(`orphantest_${process.pid}`);
    made.push(orphan, live);

    const dropped = await dropOrphanedTestDatabases("orphantest");
    assert.deepEqual(dropped, [orphan.name]);
    assert.equal(await databaseExists(orphan.name), false);
    assert.equal(await databaseExists(live.name), true);
  });
});
