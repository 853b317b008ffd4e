// The load generators and reference servers the benchmarks drive, found or
// built on first use and cached in GOPATH/bin like the FerretDB launcher:
// ghz (gRPC load) and grpc-gateway (the HTTP/JSON reference) through the Go
// module proxy, wrk (HTTP load) from the system's packages. Versions are
// pinned so two runs compare the same tools.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { repositoryRoot } from "./processes.js";

const ghzModule = "github.com/bojand/ghz/cmd/ghz@v0.120.0";
const gatewayPlugins = [
  "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12",
  "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2",
  "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0",
];
const gatewaySource = join(repositoryRoot, "bench/grpc-gateway");

function goBin(): string {
  try {
    return join(execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim(), "bin");
  } catch (error) {
    throw new Error(`the benchmarks need Go to build ghz and grpc-gateway (${error instanceof Error ? error.message : String(error)}); install Go`);
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const candidate = join(dir, name);
    if (dir !== "" && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** ghz, installed into GOPATH/bin with `go install` when missing. */
export function ghzBinary(): string {
  const found = onPath("ghz") ?? join(goBin(), "ghz");
  if (existsSync(found)) return found;
  execFileSync("go", ["install", ghzModule], { stdio: ["ignore", "ignore", "inherit"], timeout: 900_000 });
  return join(goBin(), "ghz");
}

/** wrk from the system; the benchmarks do not install system packages. */
export function wrkBinary(): string {
  const found = onPath("wrk");
  if (!found) throw new Error("the HTTP benchmarks need wrk: apt-get install wrk (Debian/Ubuntu) or brew install wrk");
  return found;
}

/**
 * bench/grpc-gateway built into GOPATH/bin/mel-grpc-gateway: its Go handlers
 * generated from proto/ with buf and the grpc-gateway plugin, rebuilt when
 * the protos or the wrapper change (a stamp file holds their hash).
 */
export function grpcGatewayBinary(): string {
  const bin = goBin();
  const binary = join(bin, "mel-grpc-gateway");
  const stampFile = `${binary}.stamp`;
  const stamp = sourceHash();
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return binary;
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
  for (const plugin of gatewayPlugins) execFileSync("go", ["install", plugin], { env, stdio: ["ignore", "ignore", "inherit"], timeout: 900_000 });
  execFileSync(join(repositoryRoot, "node_modules/.bin/buf"), ["generate", "--template", "bench/grpc-gateway/buf.gen.yaml"], {
    cwd: repositoryRoot,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  execFileSync("go", ["build", "-o", binary, "."], { cwd: gatewaySource, env, stdio: ["ignore", "inherit", "inherit"], timeout: 900_000 });
  writeFileSync(stampFile, stamp);
  return binary;
}

function sourceHash(): string {
  const hash = createHash("sha256");
  const files = [...walk(join(repositoryRoot, "proto")), ...["main.go", "go.mod", "go.sum", "buf.gen.yaml"].map((file) => join(gatewaySource, file))];
  for (const file of files.sort()) {
    hash.update(relative(repositoryRoot, file));
    if (existsSync(file)) hash.update(readFileSync(file));
  }
  return hash.digest("hex");
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
