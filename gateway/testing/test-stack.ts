// A gateway on loopback port 0 in front of the fixture upstreams, for tests.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { createLogger, type Logger } from "../../platform/log/index.js";
import type { GatewayConfig } from "../config.js";
import { loadGatewayConfig } from "../config.js";
import { readDescriptorSet } from "../descriptors.js";
import type { RunningGateway } from "../gateway.js";
import { startGateway } from "../gateway.js";
import type { FixtureUpstreams } from "./fixture-upstreams.js";
import { startFixtureUpstreams } from "./fixture-upstreams.js";
import { probeServiceName, withProbeService } from "./probe-service.js";

export const descriptorPath = resolve(dirname(fileURLToPath(import.meta.url)), "../../gen/descriptor.binpb");
export const testOrigin = "http://shop.example";

export interface TestStack {
  gateway: RunningGateway;
  upstreams: FixtureUpstreams;
  descriptorSet: FileDescriptorSet;
  config: GatewayConfig;
  url: string;
  close(): Promise<void>;
}

/** `logger` receives the gateway's log lines (silent by default, debug with MEL_TEST_LOG_LEVEL=debug). */
export async function startTestStack(overrides: Partial<GatewayConfig> = {}, options: { logger?: Logger } = {}): Promise<TestStack> {
  const descriptorSet = withProbeService(readDescriptorSet(descriptorPath));
  const upstreams = await startFixtureUpstreams(descriptorSet);
  const defaults = loadGatewayConfig({});
  const upstreamMap = Object.fromEntries([...Object.keys(defaults.upstreams), probeServiceName].map((name) => [name, upstreams.address]));
  const config: GatewayConfig = { ...defaults, host: "127.0.0.1", port: 0, upstreams: upstreamMap, corsOrigins: [testOrigin], minTimeoutMs: 50, ...overrides };
  const logger = options.logger ?? createLogger({ service: "gateway", level: process.env.MEL_TEST_LOG_LEVEL === "debug" ? "debug" : "silent" });
  const gateway = await startGateway(config, { descriptorSet, logger });
  return {
    gateway,
    upstreams,
    descriptorSet,
    config,
    url: gateway.url,
    close: async () => {
      await gateway.close();
      await upstreams.close();
    },
  };
}
