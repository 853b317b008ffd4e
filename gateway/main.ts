// The gateway's wiring: config → logger → descriptor set → gateway. Run
// directly (node dist/gateway/main.js) it reads the environment and drains on
// SIGTERM/SIGINT; tests and the mesh launcher call startGateway instead.
import { defaultDescriptorSetPath } from "../platform/grpc/index.js";
import type { Logger } from "../platform/log/index.js";
import { isEntryPoint, runAsMain } from "../platform/process/index.js";
import type { GatewayConfig } from "./config.js";
import { loadGatewayConfig } from "./config.js";
import { readDescriptorSet } from "./descriptors.js";
import type { RunningGateway } from "./gateway.js";
import { startGateway } from "./gateway.js";

export type { GatewayConfig } from "./config.js";
export { loadGatewayConfig } from "./config.js";
export type { GatewayDeps, RunningGateway } from "./gateway.js";
export { startGateway } from "./gateway.js";

/** The gateway as `node dist/gateway/main.js` runs it: the store's services from gen/descriptor.binpb. */
export function startGatewayFromDescriptors(config: GatewayConfig, logger: Logger, descriptorSetPath = defaultDescriptorSetPath): Promise<RunningGateway> {
  return startGateway(config, { descriptorSet: readDescriptorSet(descriptorSetPath), logger });
}

if (isEntryPoint(import.meta.url)) {
  runAsMain({
    name: "gateway",
    loadConfig: () => loadGatewayConfig(),
    start: async (config, logger) => {
      const gateway = await startGatewayFromDescriptors(config, logger);
      logger.info({ url: gateway.url, upstreams: config.upstreams }, "gateway listening");
      return { stop: () => gateway.close() };
    },
  });
}
