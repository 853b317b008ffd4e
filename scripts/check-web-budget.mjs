// Fails when the JavaScript the storefront's first page loads (the entry
// script and the chunks index.html preloads) is over budget, gzipped, as a
// browser would download it. Run after `npm run build` (vite build web).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const budgetBytes = 150 * 1024;
const dist = process.argv[2] ?? "web/dist";
const html = readFileSync(join(dist, "index.html"), "utf8");
const scripts = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="\/([^"]+\.js)"/g)].map((match) => match[1]);
if (scripts.length === 0) {
  console.error(`no script found in ${join(dist, "index.html")}`);
  process.exit(1);
}
let total = 0;
for (const file of scripts) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`${file}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
console.log(`first page JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (budget ${budgetBytes / 1024} KB)`);
if (total > budgetBytes) {
  console.error("over budget: split a route out with a dynamic import() or drop a dependency");
  process.exit(1);
}
