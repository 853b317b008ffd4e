// The storefront (web/, built by vite into web/dist) served by the gateway at
// /, beside the JSON API and gRPC-Web: hashed assets cached for a year,
// pictures for a day, index.html never without asking again, and any page
// path a browser opens (Accept: text/html, outside /api/, no file extension)
// answered with index.html so the single-page app routes it. Every response
// carries a Content-Security-Policy that allows nothing but this origin.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "../platform/log/index.js";
import { parseGrpcWebContentType } from "./grpc-web-framing.js";

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

// Paths the gateway answers itself; a page path never starts with these.
const apiPrefixes = ["/api/", "/.well-known/", "/openapi.json", "/healthz", "/readyz", "/assets/", "/pictures/"];

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", contentSecurityPolicy)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin");
}

/** Serves the built storefront from `root` when it holds an index.html; otherwise logs that there is no site and does nothing. */
export async function registerStaticSite(app: FastifyInstance, root: string, logger: Logger): Promise<void> {
  const folder = resolve(root);
  const indexFile = join(folder, "index.html");
  if (!existsSync(indexFile)) {
    logger.info({ webRoot: folder }, "no storefront build (index.html) there: the gateway serves the API only");
    return;
  }
  const index = readFileSync(indexFile);

  await app.register(fastifyStatic, {
    root: join(folder, "assets"),
    prefix: "/assets/",
    decorateReply: false,
    index: false,
    // Vite puts a content hash in every asset name: a changed file is a new URL.
    immutable: true,
    maxAge: "365d",
    setHeaders: (response: FastifyReply) => {
      response.header("content-security-policy", contentSecurityPolicy);
      response.header("x-content-type-options", "nosniff");
    },
  });
  if (existsSync(join(folder, "pictures"))) {
    await app.register(fastifyStatic, {
      root: join(folder, "pictures"),
      prefix: "/pictures/",
      decorateReply: false,
      index: false,
      maxAge: "1d",
      setHeaders: (response: FastifyReply) => {
        response.header("content-security-policy", contentSecurityPolicy);
        response.header("x-content-type-options", "nosniff");
      },
    });
  }

  const sendIndex = (reply: FastifyReply) =>
    securityHeaders(reply).code(200).header("content-type", "text/html; charset=utf-8").header("cache-control", "no-cache").send(index);

  // Answered before routing: the gateway's catch-all route would read a page path as an unknown API route.
  app.addHook("onRequest", async (request, reply) => {
    if (request.method !== "GET" && request.method !== "HEAD") return;
    if (parseGrpcWebContentType(request.headers["content-type"])) return;
    const [path = "/"] = request.url.split("?", 1);
    if (apiPrefixes.some((prefix) => path.startsWith(prefix))) return;
    if (/\.[A-Za-z0-9]+$/.test(path) && path !== "/index.html") return;
    if (!(request.headers.accept ?? "").includes("text/html")) return;
    return sendIndex(reply);
  });
}
