// Runs the benchmarks in bench/*.bench.ts, each in its own process so one
// bench's servers, pools and JIT state never colour another's figures.
// `npm run bench -- gateway` runs only those whose file name contains "gateway".
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const all = readdirSync(benchDir)
  .filter((file) => file.endsWith(".bench.ts"))
  .sort();
const chosen = all.filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
if (chosen.length === 0) {
  console.error(`no benchmark matches ${filters.join(", ")}; there are: ${all.join(", ")}`);
  process.exit(2);
}

// The servers run from dist/, as npm start and the image run them: build once before any bench.
const build = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
if (build.status !== 0) {
  console.error("npm run build failed, so no benchmark ran");
  process.exit(1);
}

let failed = 0;
for (const file of chosen) {
  const result = spawnSync(process.execPath, ["--import", "tsx", join(benchDir, file)], { stdio: "inherit" });
  if (result.status !== 0) {
    failed += 1;
    console.error(`${file} failed (${result.signal ?? `exit ${result.status}`})`);
  }
  console.log();
}
process.exit(failed === 0 ? 0 : 1);
