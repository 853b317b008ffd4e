import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ErrorReason } from "./index.js";

test("docs/errors.md has a row for every reason of mel.errors.v1.ErrorReason", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const reasons = Object.keys(ErrorReason).filter((name) => Number.isNaN(Number(name)) && name !== "ERROR_REASON_UNSPECIFIED" && name !== "UNRECOGNIZED");
  assert.deepEqual(
    reasons.filter((name) => !new RegExp(`^\\| \`${name}\` +\\|`, "m").test(doc)),
    [],
  );
});
