// Fails when a test is focused with `.only` / `{ only: true }`: a focused test
// silently skips the rest of the suite.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const offenders = [];
function walk(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry === "gen" || entry === "dist" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith(".test.ts")) {
      const text = readFileSync(path, "utf8");
      if (/\b(?:it|test|describe|suite)\.only\s*\(|\bonly:\s*true\b/.test(text)) offenders.push(path);
    }
  }
}
walk(".");
if (offenders.length > 0) {
  console.error(`focused tests found (remove .only):\n  ${offenders.join("\n  ")}`);
  process.exit(1);
}
