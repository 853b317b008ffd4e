import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPasswordHasher, owaspScryptParams, parsePasswordHash } from "./password-hash.js";

// Tests use a low cost for speed; one test runs OWASP's parameters for real.
const fast = createPasswordHasher({ logN: 10, r: 8, p: 1 });

describe("password hashing", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const stored = await fast.hash("correct horse battery staple");
    assert.equal(await fast.verify("correct horse battery staple", stored), true);
    assert.equal(await fast.verify("correct horse battery stapler", stored), false);
    assert.equal(await fast.verify("", stored), false);
  });

  it("salts every hash", async () => {
    assert.notEqual(await fast.hash("same password"), await fast.hash("same password"));
  });

  it("uses OWASP's scrypt parameters by default and records them in the hash", async () => {
    const hasher = createPasswordHasher();
    assert.deepEqual(hasher.params, { logN: 17, r: 8, p: 1 });
    const stored = await hasher.hash("password-at-full-cost");
    assert.match(stored, /^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(parsePasswordHash(stored)?.params, owaspScryptParams);
    assert.equal(await hasher.verify("password-at-full-cost", stored), true);
  });

  it("verifies hashes made with other parameters and says they need re-hashing", async () => {
    const stored = await fast.hash("older cost");
    const stronger = createPasswordHasher({ logN: 11, r: 8, p: 1 });
    assert.equal(await stronger.verify("older cost", stored), true);
    assert.equal(stronger.needsRehash(stored), true);
    assert.equal(fast.needsRehash(stored), false);
  });

  it("treats the same password typed in another Unicode form as the same (NFKC)", async () => {
    const stored = await fast.hash("café-Ω");
    assert.equal(await fast.verify("cafe\u0301-\u2126", stored), true);
  });

  it("refuses stored strings it did not make, and costs a stored hash could abuse", async () => {
    assert.equal(await fast.verify("x", "plain text password"), false);
    assert.equal(await fast.verify("x", "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), false);
    assert.equal(parsePasswordHash("$argon2id$v=19$m=19456,t=2,p=1$abc$def"), undefined);
  });

  it("refuses to be configured below the minimum cost", () => {
    assert.throws(() => createPasswordHasher({ logN: 4, r: 8, p: 1 }), /logN must be an integer from 10/);
  });

  it("runs a dummy verification that never succeeds, for unknown emails", async () => {
    assert.equal(await fast.verifyDummy("anything"), false);
    assert.equal(await fast.verifyDummy("anything"), false);
  });
});
