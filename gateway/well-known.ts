// The gateway's own endpoints: liveness, readiness (the upstreams' gRPC health)
// and the JWK Set at /.well-known/jwks.json, read from identity over gRPC.

import type { JsonObject } from "@bufbuild/protobuf";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import type { FastifyInstance } from "fastify";
import { type GatewayContext, upstreamFor } from "./gateway-context.js";
import { GatewayError, httpStatusFromGrpc, isUpstreamFailure, statusJsonFromFailure } from "./http-status.js";
import type { ServingStatus } from "./upstream.js";

const jwksMethod = "/mel.identity.v1.IdentityService/GetJwks";

export function registerWellKnownRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get("/healthz", async (_request, reply) => reply.header("cache-control", "no-store").send({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const deadline = () => new Date(Date.now() + context.config.readinessTimeoutMs);
    const entries = await Promise.all(
      context.catalog.services.map(async (service): Promise<[string, ServingStatus]> => {
        const upstream = context.upstreams.get(service.typeName);
        if (upstream === undefined) return [service.typeName, "SERVICE_UNKNOWN"];
        let status = await upstream.checkHealth(service.typeName, deadline());
        // A server that reports only overall health ("") still says whether it serves.
        if (status === "SERVICE_UNKNOWN") status = await upstream.checkHealth("", deadline());
        return [service.typeName, status];
      }),
    );
    const ready = entries.every(([, status]) => status === "SERVING");
    return reply
      .code(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .send({ status: ready ? "ready" : "unavailable", upstreams: Object.fromEntries(entries) });
  });

  app.get("/.well-known/jwks.json", async (request, reply) => {
    const target = context.catalog.methodsByPath.get(jwksMethod);
    if (!target) throw new GatewayError(GrpcStatus.NOT_FOUND, "this gateway has no identity upstream, so it serves no JWK Set");
    const upstream = upstreamFor(context, target);
    const metadata = new Metadata();
    const correlationId = request.headers["x-correlation-id"];
    if (typeof correlationId === "string") metadata.set("x-correlation-id", correlationId);
    try {
      const outcome = await upstream.unary(jwksMethod, new Uint8Array(0), { metadata, deadline: new Date(Date.now() + context.config.defaultTimeoutMs) });
      const output = target.method.output;
      const json = toJson(output, fromBinary(output, outcome.message), { useProtoFieldName: true }) as JsonObject;
      // RFC 7517: a JWK carries only the members that apply to its key type.
      const keys = ((json.keys ?? []) as JsonObject[]).map((key) => Object.fromEntries(Object.entries(key).filter(([, value]) => value !== "")));
      return reply.header("content-type", "application/json; charset=utf-8").header("cache-control", "public, max-age=60").send(JSON.stringify({ keys }));
    } catch (error: unknown) {
      if (!isUpstreamFailure(error)) throw error;
      return reply
        .code(httpStatusFromGrpc(error.code))
        .header("content-type", "application/json; charset=utf-8")
        .send(JSON.stringify(statusJsonFromFailure(error, context.catalog.registry)));
    }
  });
}
