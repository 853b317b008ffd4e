import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../platform/config/index.js";
import { createLogger } from "../../platform/log/index.js";
import { loadIdentityConfig } from "./config.js";
import { resolveKeyEncryptionKey } from "./key-encryption-key.js";

const quiet = createLogger({ service: "test", level: "silent" });

describe("identity configuration", () => {
  it("has the documented defaults", () => {
    const config = loadIdentityConfig({});
    assert.equal(config.port, 50051);
    assert.equal(config.databaseUrl, "sqlite:data/identity.db");
    assert.equal(config.databaseMaxConnections, 10);
    assert.equal(config.tokens.ttlSeconds, 900);
    assert.equal(config.tokens.refreshTtlSeconds, 7 * 24 * 3600);
    assert.equal(config.signingAlgorithm, "ES256");
    assert.equal(config.passwordPolicy.minLength, 8);
    assert.deepEqual(config.scrypt, { logN: 17, r: 8, p: 1 });
    assert.deepEqual(config.loginThrottle, { maxFailures: 5, windowSeconds: 900, lockoutSeconds: 900 });
    assert.deepEqual(config.admin, { email: "admin@lojasmel.local", password: undefined });
    assert.equal(config.production, false);
  });

  it("refuses to start in production without a key-encryption key or below OWASP's hash cost", () => {
    for (const env of [{ NODE_ENV: "production" }, { MEL_ENV: "production" }]) {
      assert.throws(
        () => loadIdentityConfig({ ...env, MEL_IDENTITY_PASSWORD_HASH_COST: "12" }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.some((problem) => problem.startsWith("MEL_IDENTITY_KEY_ENCRYPTION_KEY: is required in production")) &&
          error.problems.some((problem) => problem.startsWith("MEL_IDENTITY_PASSWORD_HASH_COST: must be at least 17")),
      );
    }
    assert.equal(loadIdentityConfig({ NODE_ENV: "production", MEL_IDENTITY_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") }).production, true);
  });

  it("sizes the database pool from MEL_IDENTITY_DATABASE_MAX_CONNECTIONS, so several instances fit the server's connection limit", () => {
    assert.equal(loadIdentityConfig({ MEL_IDENTITY_DATABASE_MAX_CONNECTIONS: "4" }).databaseMaxConnections, 4);
    assert.throws(() => loadIdentityConfig({ MEL_IDENTITY_DATABASE_MAX_CONNECTIONS: "0" }), /MEL_IDENTITY_DATABASE_MAX_CONNECTIONS/);
  });

  it("names bad variables", () => {
    assert.throws(
      () => loadIdentityConfig({ MEL_IDENTITY_SIGNING_ALGORITHM: "HS256", MEL_IDENTITY_PASSWORD_MIN_LENGTH: "4" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /MEL_IDENTITY_SIGNING_ALGORITHM: expected one of ES256, RS256/);
        assert.match(error.message, /MEL_IDENTITY_PASSWORD_MIN_LENGTH/);
        return true;
      },
    );
  });

  it("outside production generates a development key-encryption key once and reuses it", () => {
    const dir = mkdtempSync(join(tmpdir(), "mel-identity-kek-"));
    try {
      const file = join(dir, "nested", "dev-key");
      const first = resolveKeyEncryptionKey({ configured: undefined, production: false, devKeyFile: file, logger: quiet });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(Buffer.from(readFileSync(file, "utf8").trim(), "base64").length, 32);
      const second = resolveKeyEncryptionKey({ configured: undefined, production: false, devKeyFile: file, logger: quiet });
      assert.deepEqual(second.bytes, first.bytes);
      assert.throws(
        () => resolveKeyEncryptionKey({ configured: undefined, production: true, devKeyFile: file, logger: quiet }),
        /MEL_IDENTITY_KEY_ENCRYPTION_KEY is required in production/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
