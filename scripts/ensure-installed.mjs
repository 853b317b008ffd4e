// Runs before `npm start` and `npm test` (their pre-scripts), so both work as
// the first command after `git clone`: installs the dependencies with `npm ci`
// when node_modules is missing or was installed from another package-lock.json
// (or for another Node.js), and otherwise costs a hash of the lock file.
//
// Plain Node.js with no dependencies, since it runs before there are any.
// better-sqlite3 has no prebuilt binary offline and compiles with node-gyp:
// that needs a C++ toolchain and the running Node.js's headers, so this script
// checks for them first and says what to install instead of letting node-gyp
// fail halfway with a download error.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockFile = join(projectRoot, "package-lock.json");
const stampFile = join(projectRoot, "node_modules", ".mel-install-stamp");

/** What node_modules must have been installed from: the lock file, this Node.js's ABI, the platform. */
function wantedStamp() {
  const hash = createHash("sha256").update(readFileSync(lockFile));
  hash.update(`\0${process.versions.modules}\0${process.platform}\0${process.arch}`);
  return hash.digest("hex");
}

function fail(lines) {
  process.stderr.write(`\nmel: cannot install the dependencies:\n  ${lines.join("\n  ")}\n\n`);
  process.exit(1);
}

function onPath(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** The folder holding include/node/node.h for the running Node.js, if any. */
function nodeHeadersDir() {
  if (process.env.npm_config_nodedir && existsSync(join(process.env.npm_config_nodedir, "include", "node", "node.h"))) {
    return process.env.npm_config_nodedir;
  }
  const prefix = dirname(dirname(process.execPath));
  for (const candidate of [prefix, "/usr", "/usr/local"]) {
    if (existsSync(join(candidate, "include", "node", "node.h"))) return candidate;
  }
  return undefined;
}

const wanted = wantedStamp();
if (existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === wanted) process.exit(0);

const missing = [];
if (!onPath("npm")) missing.push("npm (it comes with Node.js)");
for (const [tool, debianPackage] of [
  ["python3", "python3"],
  ["make", "make"],
  ["g++", "g++"],
]) {
  if (!onPath(tool)) missing.push(`${tool} (Debian/Ubuntu: apt-get install ${debianPackage})`);
}
const headers = nodeHeadersDir();
if (headers === undefined) {
  missing.push(
    `the headers of Node.js ${process.version} (include/node/node.h): install the Node.js package that ships them (Debian/Ubuntu: apt-get install libnode-dev, or an official Node.js tarball), or set npm_config_nodedir to the folder that holds include/node`,
  );
}
if (missing.length > 0) fail(["better-sqlite3 is compiled on install and needs:", ...missing.map((line) => `- ${line}`)]);

process.stdout.write(`mel: installing dependencies (package-lock.json changed or node_modules is missing): npm ci\n`);
const install = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], {
  cwd: projectRoot,
  stdio: "inherit",
  env: { ...process.env, npm_config_nodedir: headers },
});
if (install.status !== 0) fail([`npm ci exited with ${install.status ?? install.signal}; its output above says why`]);
writeFileSync(stampFile, `${wanted}\n`);
