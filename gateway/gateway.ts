// Assembles the gateway: one fastify app on one port (HTTP/1.1 and h2c), a
// catch-all route that sends gRPC-Web requests to the proxy and everything
// else to the JSON transcoder, the gateway's own endpoints, CORS, limits, and
// error bodies that are google.rpc.Status JSON (or gRPC statuses for gRPC-Web).

import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import cors from "@fastify/cors";
import rateLimit from "@fastify/rate-limit";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import Fastify from "fastify";
import { ErrorReason } from "../platform/errors/index.js";
import { idempotentMethodsOf as contractIdempotentMethods, createGrpcClientTransport } from "../platform/grpc/index.js";
import { type CallOutcome, callLogLevel, type Logger, slowCallMsOf } from "../platform/log/index.js";
import { httpRouteOf, recordHttpServerRequest } from "../platform/telemetry/index.js";
import type { GatewayConfig } from "./config.js";
import type { GatewayMethod, ServiceCatalog } from "./descriptors.js";
import { createServiceCatalog } from "./descriptors.js";
import { DualProtocolServer } from "./dual-protocol-server.js";
import type { GatewayContext } from "./gateway-context.js";
import { grpcStatusOfGatewayError, handleGrpcWebRequest, sendTrailersOnly } from "./grpc-web.js";
import type { GrpcWebContentType } from "./grpc-web-framing.js";
import { parseGrpcWebContentType } from "./grpc-web-framing.js";
import { answerClientError, ClientAbortError, GatewayError, statusJsonFromFailure } from "./http-status.js";
import { findRoute, handleJsonRequest } from "./json-routes.js";
import { createOpenApiDocument } from "./openapi.js";
import { registerStaticSite } from "./static-site.js";
import { registerTokenCookies } from "./token-cookie.js";
import type { Upstream, UpstreamOptions } from "./upstream.js";
import { createUpstream } from "./upstream.js";
import { registerWellKnownRoutes } from "./well-known.js";

export interface GatewayDeps {
  descriptorSet: FileDescriptorSet;
  logger: Logger;
  /** Makes the client for one upstream address (one per distinct address); the platform client by default. */
  createUpstream?: (options: UpstreamOptions) => Upstream;
}

export interface RunningGateway {
  app: FastifyInstance;
  port: number;
  /** http://host:port, with a loopback host when listening on every interface. */
  url: string;
  close(): Promise<void>;
}

// Headers a browser may send and read; gRPC-Web clients need grpc-status and
// grpc-message exposed to see the outcome of a trailers-only response, and
// mel-read-source (GetOrder's answering side) arrives as is on gRPC-Web and as
// Grpc-Metadata-Mel-Read-Source on HTTP/JSON.
const allowedHeaders = ["content-type", "authorization", "x-grpc-web", "x-user-agent", "grpc-timeout", "x-correlation-id", "traceparent", "tracestate"];
const exposedHeaders = [
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "x-correlation-id",
  "retry-after",
  "mel-read-source",
  "grpc-metadata-mel-read-source",
];
const jsonType = "application/json; charset=utf-8";

export async function createGateway(config: GatewayConfig, deps: GatewayDeps): Promise<{ app: FastifyInstance; upstreams: Map<string, Upstream> }> {
  const catalog = createServiceCatalog(deps.descriptorSet, Object.keys(config.upstreams));
  const makeUpstream = deps.createUpstream ?? createUpstream;
  const transport = createGrpcClientTransport(config.grpc);
  const byAddress = new Map<string, Upstream>();
  const upstreams = new Map<string, Upstream>();
  for (const [address, services] of groupByAddress(config.upstreams)) {
    // "mel.catalog.v1.CatalogService" is served by catalog, whose certificate names it.
    const names = services.map((service) => service.split(".")[1] ?? service);
    const upstream = makeUpstream({
      address,
      name: names.join("+"),
      ...transport.clientOptions(...names),
      idempotentMethods: idempotentMethodsOf(catalog, services),
      logger: deps.logger,
    });
    byAddress.set(address, upstream);
    for (const service of services) upstreams.set(service, upstream);
  }

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    // logRequest writes one line per request instead of fastify's two at info.
    disableRequestLogging: true,
    routerOptions: { maxParamLength: 4096 },
    // Requests rejected before routing answer in the gateway's format too.
    clientErrorHandler: answerClientError,
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
    serverFactory: (handler) => new DualProtocolServer(handler, { keepAliveTimeoutMs: 72_000, http2SessionTimeoutMs: 72_000, firstBytesTimeoutMs: 10_000 }),
  });
  app.addHook("onResponse", async (request, reply) => {
    recordHttpServerRequest(request.method, httpRouteOf(request) ?? request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    logRequest(deps.logger, request, reply);
  });
  app.addHook("onClose", async () => {
    for (const upstream of byAddress.values()) upstream.close();
  });

  await app.register(cors, {
    origin: config.corsOrigins.includes("*") ? "*" : config.corsOrigins.length > 0 ? config.corsOrigins : false,
    methods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    allowedHeaders,
    exposedHeaders,
    maxAge: 600,
    // A bare OPTIONS (no Origin) is not a preflight; answer it 204 too instead
    // of a text/plain 400.
    strictPreflight: false,
  });
  await app.register(rateLimit, { global: false });
  const limiters = new Map(
    config.authRateLimit.methods.map((name) => {
      const grpcPath = `/${name}`;
      const limiter = app.createRateLimit({
        max: config.authRateLimit.max,
        timeWindow: config.authRateLimit.windowMs,
        keyGenerator: (request) => `${request.ip} ${grpcPath}`,
      });
      return [grpcPath, limiter] as const;
    }),
  );

  const context: GatewayContext = {
    config,
    catalog,
    upstreams,
    logger: deps.logger,
    async enforceRateLimit(request: FastifyRequest, method: GatewayMethod) {
      const limiter = limiters.get(method.grpcPath);
      if (!limiter) return;
      const verdict = await limiter(request);
      if (!verdict.isAllowed && verdict.isExceeded) {
        throw new GatewayError(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `too many ${method.method.name} attempts from this address; retry in ${verdict.ttlInSeconds} s`,
          429,
          { "retry-after": String(verdict.ttlInSeconds) },
          { reason: ErrorReason.RATE_LIMITED, retryDelayMs: verdict.ttlInSeconds * 1000 },
        );
      }
    },
  };

  app.removeAllContentTypeParsers();
  // gRPC-Web bodies stay streams: the proxy reads them with its own limit and
  // answers an oversize one with a gRPC status rather than HTTP 413.
  app.addContentTypeParser(/^application\/grpc-web/i, (_request, payload, done) => done(null, payload));
  // Like grpc-gateway, any body on a JSON route is read as JSON, whatever text
  // type it claims: `curl -d` sends x-www-form-urlencoded by default.
  app.addContentTypeParser(["application/json", "text/plain", "application/x-www-form-urlencoded"], { parseAs: "string" }, parseJsonBody);
  app.addContentTypeParser(/^application\/[\w.+-]+\+json$/i, { parseAs: "string" }, parseJsonBody);

  registerWellKnownRoutes(app, context);
  registerTokenCookies(app, catalog, { maxMessageBytes: config.grpcWebMaxMessageBytes });
  await registerStaticSite(app, config.webRoot, deps.logger);
  const openApi = JSON.stringify(
    createOpenApiDocument(catalog, {
      title: "Mel API",
      version: "v1",
      description: "HTTP/JSON API of the Lojas Mel store, transcoded to the gRPC services by the gateway.",
    }),
  );
  app.get("/openapi.json", async (_request, reply) => reply.header("content-type", jsonType).send(openApi));

  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    url: "/*",
    handler: async (request, reply) => {
      const grpcWeb = grpcWebContentType(request);
      if (grpcWeb && request.method === "POST") return handleGrpcWebRequest(request, reply, grpcWeb, context);
      if (grpcWeb) throw new GatewayError(GrpcStatus.UNIMPLEMENTED, "gRPC-Web calls are POST requests", 405, { allow: "POST" });
      return handleJsonRequest(request, reply, context);
    },
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split("?", 1)[0] ?? request.url;
    try {
      findRoute(catalog.bindings, request.method, path);
      throw new GatewayError(GrpcStatus.NOT_FOUND, `no route for ${request.method} ${path}`);
    } catch (error: unknown) {
      return sendError(error as FastifyError, request, reply);
    }
  });
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));

  function sendError(error: FastifyError | GatewayError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const aborted = isClientAbort(error);
    // Nobody reads the answer to a client that went away; it is sent only so the request ends in order.
    if (aborted) request.log.info({ reason: error.message }, "client aborted the request before it was read");
    const known = aborted ? { code: GrpcStatus.CANCELLED, message: "the client went away", httpStatus: 499, headers: {} } : classify(error);
    if (!known) request.log.error({ err: error }, "unhandled gateway error");
    const { code, message, httpStatus, headers } = known ?? { code: GrpcStatus.INTERNAL, message: "internal gateway error", httpStatus: 500, headers: {} };
    reply.headers(headers);
    let grpcWeb: GrpcWebContentType | undefined;
    try {
      grpcWeb = parseGrpcWebContentType(request.headers["content-type"]);
    } catch {
      grpcWeb = { text: false, responseType: "application/grpc-web+proto" };
    }
    // The gateway's own errors carry error details as an upstream's do.
    const metadata = error instanceof GatewayError ? error.statusMetadata() : undefined;
    if (grpcWeb && request.method === "POST") return sendTrailersOnly(reply, grpcWeb, { code, details: message, metadata });
    return reply
      .code(httpStatus)
      .header("content-type", jsonType)
      .send(JSON.stringify(statusJsonFromFailure({ code, details: message, metadata }, catalog.registry)));
  }

  return { app, upstreams: byAddress };
}

/** One line per answered request at the level callLogLevel gives it (successful ones at debug), with the correlation id. */
function logRequest(logger: Logger, request: FastifyRequest, reply: FastifyReply): void {
  const durationMs = Math.round(reply.elapsedTime * 10) / 10;
  const statusCode = reply.statusCode;
  const outcome: CallOutcome =
    statusCode === 429 || statusCode === 503 || statusCode === 504 ? "transient" : statusCode >= 500 ? "fault" : statusCode >= 400 ? "rejected" : "ok";
  const level = callLogLevel(outcome, durationMs, slowCallMsOf(logger));
  if (!logger.isLevelEnabled(level)) return;
  const correlationId = reply.getHeader("x-correlation-id");
  logger[level](
    { reqId: request.id, method: request.method, url: request.url, statusCode, durationMs, ...(correlationId === undefined ? {} : { correlationId }) },
    "request completed",
  );
}

function groupByAddress(upstreams: Record<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [service, address] of Object.entries(upstreams)) groups.set(address, [...(groups.get(address) ?? []), service]);
  return groups;
}

// Safe to retry: the RPCs the contract marks NO_SIDE_EFFECTS or IDEMPOTENT
// (`option idempotency_level` in proto/), as every platform client reads them.
function idempotentMethodsOf(catalog: ServiceCatalog, services: string[]): string[] {
  return services.flatMap((service) => contractIdempotentMethods(catalog.registry, service).map(({ service: name, method }) => `${name}/${method}`));
}

function grpcWebContentType(request: FastifyRequest): GrpcWebContentType | undefined {
  return parseGrpcWebContentType(request.headers["content-type"]);
}

interface ClassifiedError {
  code: GrpcStatus;
  message: string;
  httpStatus: number;
  headers: Record<string, string>;
}

// fastify reports body problems with statusCode 4xx; everything else unknown is a bug.
function classify(error: FastifyError | GatewayError): ClassifiedError | undefined {
  const grpc = grpcStatusOfGatewayError(error);
  if (grpc) {
    const httpStatus = error instanceof GatewayError ? error.httpStatus : grpc.code === GrpcStatus.RESOURCE_EXHAUSTED ? 429 : 400;
    return { code: grpc.code, message: grpc.details, httpStatus, headers: error instanceof GatewayError ? error.headers : {} };
  }
  const statusCode = (error as FastifyError).statusCode;
  if (typeof statusCode !== "number" || statusCode < 400 || statusCode >= 500) return undefined;
  switch (statusCode) {
    case 413:
      return { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `request body is larger than the limit: ${error.message}`, httpStatus: 413, headers: {} };
    case 415:
      return { code: GrpcStatus.INVALID_ARGUMENT, message: `${error.message}; send application/json (or gRPC-Web)`, httpStatus: 415, headers: {} };
    case 429:
      return { code: GrpcStatus.RESOURCE_EXHAUSTED, message: error.message, httpStatus: 429, headers: {} };
    default:
      return { code: GrpcStatus.INVALID_ARGUMENT, message: error.message, httpStatus: statusCode, headers: {} };
  }
}

// The gRPC-Web reader reports a body cut off as ClientAbortError; fastify's
// JSON body reader passes on the socket's ECONNRESET ("aborted").
function isClientAbort(error: Error): boolean {
  return error instanceof ClientAbortError || (error as NodeJS.ErrnoException).code === "ECONNRESET";
}

function parseJsonBody(_request: FastifyRequest, body: string | Buffer, done: (error: Error | null, body?: unknown) => void): void {
  const text = typeof body === "string" ? body : body.toString("utf8");
  if (text.trim() === "") {
    done(null, undefined);
    return;
  }
  try {
    done(null, JSON.parse(text));
  } catch (error: unknown) {
    done(new GatewayError(GrpcStatus.INVALID_ARGUMENT, `request body is not valid JSON: ${(error as Error).message}`));
  }
}

/** Builds the gateway and listens (port 0 picks a free port). */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const { app } = await createGateway(config, deps);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return { app, port, url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, close: () => app.close() };
}
