import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { normaliseEmail, sortedRoles, validateDisplayName, validateEmail, validateNewPassword, validateRole, validateUserId } from "./user.js";

function invalid(work: () => unknown, field: string, reason: RegExp): void {
  assert.throws(work, (error: unknown) => error instanceof InvalidArgumentError && error.field === field && reason.test(error.description));
}

describe("account rules", () => {
  it("normalises emails: trimmed, lower case, NFC", () => {
    assert.equal(normaliseEmail("  Ana.Souza@Example.COM "), "ana.souza@example.com");
    assert.equal(normaliseEmail("jose\u0301@example.com"), "josé@example.com");
    assert.equal(validateEmail(" ANA@example.com"), "ana@example.com");
  });

  it("refuses what is not an email, naming the field", () => {
    invalid(() => validateEmail(""), "email", /required/);
    invalid(() => validateEmail("ana"), "email", /email address/);
    invalid(() => validateEmail("ana@localhost"), "email", /email address/);
    invalid(() => validateEmail("a na@example.com"), "email", /email address/);
    invalid(() => validateEmail(`${"a".repeat(250)}@example.com`), "email", /at most 254/);
  });

  it("applies the password policy (8 characters by default, configurable)", () => {
    invalid(() => validateNewPassword("short", { minLength: 8 }), "password", /at least 8 characters \(got 5\)/);
    invalid(() => validateNewPassword("        ", { minLength: 8 }), "password", /only spaces/);
    invalid(() => validateNewPassword("x".repeat(257), { minLength: 8 }), "password", /at most 256/);
    invalid(() => validateNewPassword("eleven-char", { minLength: 12 }), "password", /at least 12/);
    validateNewPassword("12345678", { minLength: 8 });
  });

  it("defaults the display name to the email's local part", () => {
    assert.equal(validateDisplayName("  ", "ana@example.com"), "ana");
    assert.equal(validateDisplayName(" Ana Souza ", "ana@example.com"), "Ana Souza");
    invalid(() => validateDisplayName("a\u0000b", "ana@example.com"), "display_name", /control characters/);
  });

  it("accepts roles of lower-case letters, digits and inner dashes", () => {
    assert.equal(validateRole("admin"), "admin");
    assert.equal(validateRole("stock-manager-2"), "stock-manager-2");
    invalid(() => validateRole("Admin"), "role", /lower-case/);
    invalid(() => validateRole("-admin"), "role", /lower-case/);
    invalid(() => validateRole(""), "role", /required/);
  });

  it("accepts user ids that are UUIDs", () => {
    assert.equal(validateUserId("0B6F5C9E-2F1A-4C53-9A51-0D3C1F1E7A10"), "0b6f5c9e-2f1a-4c53-9a51-0d3c1f1e7a10");
    invalid(() => validateUserId("42"), "user_id", /UUID/);
  });

  it("sorts roles and drops duplicates", () => {
    assert.deepEqual(sortedRoles(["buyer", "admin", "buyer"]), ["admin", "buyer"]);
  });
});
