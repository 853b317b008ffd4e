// What every request handler of the gateway shares, built once by startGateway.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { callContextFromHeaders, correlationIdHeader } from "./call-context.js";
import type { GatewayConfig } from "./config.js";
import type { GatewayMethod, ServiceCatalog } from "./descriptors.js";
import type { UpstreamFailure } from "./http-status.js";
import { ClientAbortError, withPublicMessage } from "./http-status.js";
import type { Upstream, UpstreamCallOptions } from "./upstream.js";

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

/**
 * What both protocols do before calling `method` upstream: the deadline
 * (streams get the stream budget), metadata and correlation id from the
 * request's headers, the correlation id echoed on the reply, and a signal that
 * cancels the upstream call when the HTTP client goes away.
 */
export function openUpstreamCall(
  context: GatewayContext,
  method: GatewayMethod,
  request: FastifyRequest,
  reply: FastifyReply,
): { upstream: Upstream; options: UpstreamCallOptions; streaming: boolean; cancelled: AbortSignal } {
  const { config } = context;
  const streaming = method.method.methodKind === "server_streaming";
  const call = callContextFromHeaders(
    request.headers,
    streaming ? { ...config, defaultTimeoutMs: config.streamTimeoutMs, maxTimeoutMs: config.streamTimeoutMs } : config,
  );
  reply.header(correlationIdHeader, call.correlationId);
  const cancel = new AbortController();
  // Only a response closed before it was written means the client went away.
  // Every response closes; aborting on each would also cost a DOMException
  // (the default abort reason) per request.
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) cancel.abort(new ClientAbortError("the HTTP client went away before the answer was written"));
  });
  return {
    upstream: upstreamFor(context, method),
    options: { metadata: call.metadata, deadline: call.deadline, signal: cancel.signal },
    streaming,
    cancelled: cancel.signal,
  };
}

/** The failure as the client may see it; transport details go to the log only. */
export function publicFailure(context: GatewayContext, method: GatewayMethod, failure: UpstreamFailure): UpstreamFailure {
  return withPublicMessage(failure, method.service.name, (original) =>
    context.logger.warn({ method: method.grpcPath, code: failure.code, upstreamMessage: original }, "upstream call failed"),
  );
}
