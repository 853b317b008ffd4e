// The deployables of the mesh and the command that runs each one: shared by
// `npm start` (one process per part on this machine) and the container image's
// Kubernetes manifests (one part per container), so both run the same thing.

/** Every deployable, in the order `npm start` starts them (identity first: the others fetch its JWKS). */
export const meshParts = ["identity", "catalog", "basket", "ordering", "gateway"] as const;
export type MeshPart = (typeof meshParts)[number];

/** The entry point of `part` under dist/ ("services/catalog/main.js", "gateway/main.js"). */
export function entryPointOf(part: MeshPart): string {
  return part === "gateway" ? "gateway/main.js" : `services/${part}/main.js`;
}

/**
 * The arguments after `node` that run `part`, from the project root:
 * `node --enable-source-maps --import ./dist/platform/telemetry/register.js dist/<entry point>`.
 * Telemetry loads first so its instrumentations see every module the part imports.
 */
export function nodeArgumentsFor(part: MeshPart): string[] {
  return ["--enable-source-maps", "--import", "./dist/platform/telemetry/register.js", `dist/${entryPointOf(part)}`];
}
