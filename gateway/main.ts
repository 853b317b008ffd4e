// The gateway's wiring: config → logger → descriptor set → gateway. Run
// directly (node dist/gateway/main.js) it reads the environment and drains on
// SIGTERM/SIGINT; tests and the mesh launcher call startGateway instead.
import { pathToFileURL } from "node:url";
import { defaultDescriptorSetPath } from "../platform/grpc/index.js";
import { createLogger } from "../platform/log/index.js";
import type { Logger } from "../platform/log/index.js";
import { readGatewayConfig } from "./config.js";
import type { GatewayConfig } from "./config.js";
import { readDescriptorSet } from "./descriptors.js";
import { startGateway } from "./gateway.js";
import type { RunningGateway } from "./gateway.js";

export { startGateway } from "./gateway.js";
export type { GatewayDeps, RunningGateway } from "./gateway.js";
export { readGatewayConfig } from "./config.js";
export type { GatewayConfig } from "./config.js";

/** The gateway as `node dist/gateway/main.js` runs it: the store's services from gen/descriptor.binpb. */
export function startGatewayFromDescriptors(config: GatewayConfig, logger: Logger, descriptorSetPath = defaultDescriptorSetPath): Promise<RunningGateway> {
  return startGateway(config, { descriptorSet: readDescriptorSet(descriptorSetPath), logger });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let config: GatewayConfig;
  try {
    config = readGatewayConfig();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
  const logger = createLogger({ service: "gateway", level: config.logLevel });
  startGatewayFromDescriptors(config, logger).then(
    (gateway) => {
      logger.info({ url: gateway.url, upstreams: config.upstreams }, "gateway listening");
      const onSignal = (signal: NodeJS.Signals) => {
        logger.info({ signal }, "gateway draining");
        gateway.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, "gateway did not stop cleanly");
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
    },
    (error: unknown) => {
      logger.fatal({ err: error }, "gateway failed to start");
      process.exit(1);
    },
  );
}
