// The kustomize CLI for the deploy/ tests: MEL_KUSTOMIZE_BIN, else
// GOPATH/bin/mel-kustomize, installed there from the Go module proxy when
// missing or of another version (a stamp beside it says which), as .ci/run does.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

/** What `go install` builds; .ci/run names the same module and version. */
export const kustomizeModule = "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1";

/** The kustomize binary; throws naming what is missing when it can be neither found nor built. */
export function kustomizeBinary(): string {
  const configured = process.env.MEL_KUSTOMIZE_BIN;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`MEL_KUSTOMIZE_BIN=${configured} does not exist; build it with GOBIN=<folder> go install ${kustomizeModule}`);
    return configured;
  }
  let goPath: string;
  try {
    goPath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
  } catch (error) {
    throw new Error(`cannot find kustomize: MEL_KUSTOMIZE_BIN is unset and Go is not available to install ${kustomizeModule} (${messageOf(error)})`);
  }
  const binary = join(goPath, "bin", "mel-kustomize");
  const stamp = `${binary}.stamp`;
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === kustomizeModule) return binary;
  const scratch = mkdtempSync(join(tmpdir(), "mel-kustomize-"));
  try {
    execFileSync("go", ["install", kustomizeModule], { env: { ...process.env, GOBIN: scratch }, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
    renameSync(join(scratch, "kustomize"), binary);
    writeFileSync(stamp, `${kustomizeModule}\n`);
  } catch (error) {
    throw new Error(`installing ${kustomizeModule} failed: ${messageOf(error)}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return binary;
}

/** A rendered Kubernetes object, as kustomize wrote it. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** `kustomize build <folder>`, parsed: one object per YAML document. */
export function kustomizeBuild(binary: string, folder: string): KubernetesObject[] {
  let output: string;
  try {
    output = execFileSync(binary, ["build", folder], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new Error(`kustomize build ${folder} failed: ${messageOf(error)}`);
  }
  return parseAllDocuments(output).map((document) => {
    if (document.errors.length > 0) throw new Error(`kustomize build ${folder} wrote invalid YAML: ${document.errors[0]?.message}`);
    return document.toJS() as KubernetesObject;
  });
}

function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "stderr" in error && error.stderr) return String(error.stderr).trim().slice(-2000);
  return error instanceof Error ? error.message : String(error);
}
