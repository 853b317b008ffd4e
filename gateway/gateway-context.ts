// What every request handler of the gateway shares, built once by startGateway.
import type { FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { GatewayConfig } from "./config.js";
import type { GatewayMethod, ServiceCatalog } from "./descriptors.js";
import { withPublicMessage } from "./http-status.js";
import type { UpstreamFailure } from "./http-status.js";
import type { Upstream } from "./upstream.js";

export interface GatewayContext {
  config: GatewayConfig;
  catalog: ServiceCatalog;
  /** By proto service full name; every service in the catalog has one. */
  upstreams: ReadonlyMap<string, Upstream>;
  logger: Logger;
  /** Throws GatewayError(RESOURCE_EXHAUSTED, 429) when the caller is over a limit for this method. */
  enforceRateLimit(request: FastifyRequest, method: GatewayMethod): Promise<void>;
}

export function upstreamFor(context: GatewayContext, method: GatewayMethod): Upstream {
  const upstream = context.upstreams.get(method.service.typeName);
  if (!upstream) throw new Error(`no upstream for ${method.service.typeName}: the catalog and the upstream map disagree`);
  return upstream;
}

/** The failure as the client may see it; transport details go to the log only. */
export function publicFailure(context: GatewayContext, method: GatewayMethod, failure: UpstreamFailure): UpstreamFailure {
  return withPublicMessage(failure, method.service.name, (original) =>
    context.logger.warn({ method: method.grpcPath, code: failure.code, upstreamMessage: original }, "upstream call failed"),
  );
}
