// What the contracts say about methods beyond their wire shapes, read from the
// descriptor set `npm run gen` writes (gen/descriptor.binpb): which methods may
// be retried (`option idempotency_level` on each rpc in proto/).
import { readFileSync } from "node:fs";
import { createFileRegistry, type FileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { MethodName } from "./service-config.js";

const registries = new Map<string, FileRegistry>();

/** The descriptor set at `path` as a registry, read once per path. */
export function contractRegistry(path: string): FileRegistry {
  let registry = registries.get(path);
  if (registry === undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error: unknown) {
      throw new Error(`cannot read the descriptor set at ${path} (run npm run gen): ${(error as Error).message}`);
    }
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
    registries.set(path, registry);
  }
  return registry;
}

/**
 * The methods of `service` (full name) that the contract marks
 * NO_SIDE_EFFECTS or IDEMPOTENT: the only ones a client may send again after
 * a failed attempt. Throws for a service the descriptor set does not have.
 */
export function idempotentMethodsOf(registry: FileRegistry, service: string): MethodName[] {
  const described = registry.getService(service);
  if (described === undefined) throw new Error(`service ${service} is not in the descriptor set; run npm run gen`);
  return described.methods
    .filter((method) => method.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN)
    .map((method) => ({ service, method: method.name }));
}
