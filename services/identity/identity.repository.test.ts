import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { captureMssqlStatements, createMssqlCompiler } from "../../platform/sql/mssql-compiler.test-support.js";
import { openTestIdentityDatabase, type TestIdentityDatabase, testDialects } from "./identity.test-support.js";
import { accountThrottleKey, emailThrottleKey, type LoginThrottlePolicy } from "./login-throttle.js";
import { clearLoginThrottles, deleteLoginThrottlesIdleSince, findLoginThrottles, recordLoginFailure } from "./login-throttle.repository.js";
import { identityMigrations } from "./migrations/index.js";
import {
  deleteRefreshTokensExpiredBefore,
  findRefreshTokenByHash,
  insertRefreshToken,
  revokeRefreshTokenFamily,
  spendRefreshToken,
} from "./refresh-token.repository.js";
import {
  deleteSessionRevocationsExpiredBefore,
  insertSessionRevocation,
  listAllSessionRevocations,
  listSessionRevocations,
} from "./session-revocation.repository.js";
import {
  deleteSigningKeysUnverifiableAt,
  insertSigningKey,
  listActiveSigningKeys,
  listVerifiableSigningKeys,
  retireSigningKeysExcept,
} from "./signing-key.repository.js";
import { addRole, countUsersWithRole, findUserByEmail, findUserById, insertUser, listRoles, removeRole, updatePasswordHash } from "./user.repository.js";

const policy: LoginThrottlePolicy = { maxFailures: 3, windowSeconds: 60, lockoutSeconds: 120 };
const t0 = new Date("2030-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function newUser(email: string) {
  return { id: randomUUID(), email, displayName: "Ana", passwordHash: "$scrypt$ln=10,r=8,p=1$x$y", roles: ["buyer"] };
}

for (const dialect of testDialects) {
  describe(`identity repositories on ${dialect}`, () => {
    let store: TestIdentityDatabase;

    before(async () => {
      store = await openTestIdentityDatabase(dialect);
    });

    after(async () => {
      await store?.destroy();
    });

    it("stores a user with roles and finds it by id and by email", async () => {
      const user = newUser("ana@example.com");
      assert.equal(await insertUser(store.db, user, t0), "inserted");
      const byId = await findUserById(store.db, user.id);
      assert.deepEqual(byId, { id: user.id, email: user.email, displayName: "Ana", roles: ["buyer"], createTime: t0 });
      const byEmail = await findUserByEmail(store.db, "ana@example.com");
      assert.equal(byEmail?.passwordHash, user.passwordHash);
      assert.equal(await findUserByEmail(store.db, "nobody@example.com"), undefined);
      await updatePasswordHash(store.db, user.id, "$scrypt$ln=11,r=8,p=1$x$z", at(1));
      assert.equal((await findUserByEmail(store.db, "ana@example.com"))?.passwordHash, "$scrypt$ln=11,r=8,p=1$x$z");
    });

    it("lists session revocations still valid after an instant, by session id from a cursor, and deletes the expired", async () => {
      const sessions = [randomUUID(), randomUUID(), randomUUID()].sort();
      const [first, second, third] = sessions;
      for (const [index, sessionId] of sessions.entries()) {
        await insertSessionRevocation(store.db, { sessionId, userId: randomUUID(), revokeTime: at(index), accessExpireTime: at(900 + index) });
      }
      const ids = (rows: Array<{ sessionId: string }>) => rows.map((row) => row.sessionId);
      assert.deepEqual(ids(await listSessionRevocations(store.db, at(900), "", 10)), sessions.slice(1));
      assert.deepEqual(ids(await listSessionRevocations(store.db, at(0), first ?? "", 1)), [second]);
      assert.deepEqual(ids(await listAllSessionRevocations(store.db, at(0), 2)), sessions);
      assert.equal((await listSessionRevocations(store.db, at(0), "", 10))[0]?.accessExpireTime.getTime(), at(900).getTime());
      assert.equal(await deleteSessionRevocationsExpiredBefore(store.db, at(902)), 2);
      assert.deepEqual(ids(await listAllSessionRevocations(store.db, at(0))), [third]);
    });

    it("refuses a second account with the same email, even inside a transaction", async () => {
      await insertUser(store.db, newUser("twice@example.com"), t0);
      // The caller stops and rolls back on "email-taken" (PostgreSQL has aborted the transaction by then).
      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          assert.equal(await insertUser(trx, newUser("twice@example.com"), t0), "email-taken");
          throw new Error("roll back");
        }),
        /roll back/,
      );
      assert.equal(await insertUser(store.db, newUser("Twice@example.com"), t0), "inserted", "the store compares emails exactly; callers normalise");
    });

    it("grants and revokes roles idempotently and counts holders", async () => {
      const user = newUser("roles@example.com");
      await insertUser(store.db, user, t0);
      assert.equal(await addRole(store.db, user.id, "admin", t0), true);
      assert.equal(await addRole(store.db, user.id, "admin", t0), false);
      assert.deepEqual(await listRoles(store.db, user.id), ["admin", "buyer"]);
      assert.equal(await countUsersWithRole(store.db, "admin"), 1);
      assert.equal(await removeRole(store.db, user.id, "admin"), true);
      assert.equal(await removeRole(store.db, user.id, "admin"), false);
      assert.equal(await countUsersWithRole(store.db, "admin"), 0);
    });

    it("spends a refresh token exactly once and revokes its family", async () => {
      const user = newUser("refresh@example.com");
      await insertUser(store.db, user, t0);
      const familyId = randomUUID();
      const first = { id: randomUUID(), tokenHash: "a".repeat(64), familyId, userId: user.id, expireTime: at(3600) };
      const second = { ...first, id: randomUUID(), tokenHash: "b".repeat(64) };
      await insertRefreshToken(store.db, first, t0);
      await insertRefreshToken(store.db, second, t0);
      const spends = await Promise.all([spendRefreshToken(store.db, first.id, at(1)), spendRefreshToken(store.db, first.id, at(1))]);
      assert.deepEqual(spends.sort(), [false, true]);
      assert.deepEqual((await findRefreshTokenByHash(store.db, first.tokenHash))?.spentTime, at(1));
      assert.equal(await revokeRefreshTokenFamily(store.db, familyId, at(2)), 2);
      assert.equal(await revokeRefreshTokenFamily(store.db, familyId, at(3)), 0);
      assert.equal(await spendRefreshToken(store.db, second.id, at(4)), false, "a revoked token cannot be spent");
      assert.deepEqual((await findRefreshTokenByHash(store.db, second.tokenHash))?.revokeTime, at(2));
      assert.equal(await deleteRefreshTokensExpiredBefore(store.db, at(3601)), 2);
      assert.equal(await findRefreshTokenByHash(store.db, first.tokenHash), undefined);
    });

    it("counts failed sign-ins, locks at the limit, forgets stale failures and clears on success", async () => {
      const key = emailThrottleKey("throttle@example.com");
      assert.equal((await recordLoginFailure(store.db, key, at(0), policy)).failureCount, 1);
      assert.equal((await recordLoginFailure(store.db, key, at(1), policy)).failureCount, 2);
      const locked = await recordLoginFailure(store.db, key, at(2), policy);
      assert.deepEqual(locked.lockedUntil, at(122));
      assert.deepEqual((await findLoginThrottles(store.db, [key]))[0]?.lockedUntil, at(122));
      // After the lock and the window run out, counting starts again at one.
      assert.equal((await recordLoginFailure(store.db, key, at(200), policy)).failureCount, 1);
      assert.equal((await findLoginThrottles(store.db, [key]))[0]?.lockedUntil, undefined);
      await clearLoginThrottles(store.db, [key]);
      assert.deepEqual(await findLoginThrottles(store.db, [key]), []);
    });

    it("does not lose failures recorded in parallel", async () => {
      const key = accountThrottleKey(randomUUID());
      const generous = { ...policy, maxFailures: 100 };
      await Promise.all(Array.from({ length: 8 }, () => recordLoginFailure(store.db, key, at(0), generous)));
      assert.equal((await findLoginThrottles(store.db, [key]))[0]?.failureCount, 8);
      assert.equal(await deleteLoginThrottlesIdleSince(store.db, at(61), at(61)), 1);
    });

    it("retires signing keys, keeps them verifiable for a while, then deletes them", async () => {
      const key = (kid: string) => ({ kid, alg: "ES256", publicJwk: "{}", sealedPrivateJwk: "v1.a.b.c" });
      const [oldKid, newKid] = [randomUUID(), randomUUID()];
      await insertSigningKey(store.db, key(oldKid), at(0));
      await insertSigningKey(store.db, key(newKid), at(10));
      assert.deepEqual(
        (await listActiveSigningKeys(store.db)).map((row) => row.kid),
        [newKid, oldKid],
      );
      assert.equal(await retireSigningKeysExcept(store.db, newKid, at(10), at(100)), 1);
      assert.deepEqual(
        (await listActiveSigningKeys(store.db)).map((row) => row.kid),
        [newKid],
      );
      assert.deepEqual(
        (await listVerifiableSigningKeys(store.db, at(99))).map((row) => row.kid),
        [newKid, oldKid],
      );
      assert.deepEqual(
        (await listVerifiableSigningKeys(store.db, at(100))).map((row) => row.kid),
        [newKid],
      );
      assert.equal(await deleteSigningKeysUnverifiableAt(store.db, at(99)), 0);
      assert.equal(await deleteSigningKeysUnverifiableAt(store.db, at(100)), 1);
    });
  });
}

describe("identity SQL on SQL Server (compiled)", () => {
  it("creates the tables with Unicode text, a unique email and no dialect-specific syntax of the others", async () => {
    const statements = await captureMssqlStatements(async (db) => {
      for (const name of Object.keys(identityMigrations).sort()) await identityMigrations[name]!.up(db);
    });
    const users = statements.find((statement) => statement.startsWith('create table "identity_user"'));
    assert.ok(users, statements.join("\n"));
    assert.match(users, /"email" nvarchar\(254\) not null unique/);
    const keys = statements.find((statement) => statement.startsWith('create table "identity_signing_key"'));
    assert.match(keys!, /"sealed_private_jwk" nvarchar\(max\) not null/);
    assert.match(keys!, /check \(alg in \('ES256', 'RS256'\)\)/);
    for (const statement of statements) assert.doesNotMatch(statement, /\b(limit|returning|on conflict|autoincrement|bigserial|boolean)\b/i, statement);
  });

  it("compiles every repository statement to T-SQL", async () => {
    const { db, statements } = createMssqlCompiler();
    const user = newUser("ana@example.com");
    await insertUser(db, user, t0);
    await findUserById(db, user.id);
    await findUserByEmail(db, user.email);
    await updatePasswordHash(db, user.id, "h", t0);
    await addRole(db, user.id, "admin", t0);
    await removeRole(db, user.id, "admin");
    await countUsersWithRole(db, "admin").catch(() => undefined);
    await insertRefreshToken(db, { id: "r", tokenHash: "h", familyId: "f", userId: user.id, expireTime: t0 }, t0);
    await findRefreshTokenByHash(db, "h");
    await spendRefreshToken(db, "r", t0);
    await revokeRefreshTokenFamily(db, "f", t0);
    await deleteRefreshTokensExpiredBefore(db, t0);
    await insertSigningKey(db, { kid: "k", alg: "ES256", publicJwk: "{}", sealedPrivateJwk: "s" }, t0);
    await listActiveSigningKeys(db);
    await listVerifiableSigningKeys(db, t0);
    await retireSigningKeysExcept(db, "k", t0, t0);
    await deleteSigningKeysUnverifiableAt(db, t0);
    await findLoginThrottles(db, ["email:a@example.com"]);
    await clearLoginThrottles(db, ["email:a@example.com"]);
    await deleteLoginThrottlesIdleSince(db, t0, t0);
    await insertSessionRevocation(db, { sessionId: "s", userId: user.id, revokeTime: t0, accessExpireTime: t0 });
    await listSessionRevocations(db, t0, "", 10);
    await deleteSessionRevocationsExpiredBefore(db, t0);
    // The compiler returns no rows, so recording stops at its read-back; its writes are captured first.
    await recordLoginFailure(db, "email:a@example.com", t0, policy).catch(() => undefined);
    const sql = statements.map((statement) => statement.sql);
    assert.ok(sql.length >= 25, `${sql.length} statements`);
    assert.ok(
      sql.some((text) => /^update "identity_login_throttle" set "failure_count" = "failure_count" \+ @1 where "throttle_key" = @2$/.test(text)),
      sql.join("\n"),
    );
    assert.ok(
      sql.some((text) =>
        /^update "identity_refresh_token" set "spent_time" = @1 where "id" = @2 and "spent_time" is null and "revoke_time" is null$/.test(text),
      ),
    );
    for (const text of sql) assert.doesNotMatch(text, /\b(limit|returning|on conflict)\b/i, text);
  });
});
