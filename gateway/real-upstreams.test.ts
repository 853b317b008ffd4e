// The gateway in front of the real identity and catalog services on loopback
// (SQLite, RabbitMQ): sign-up and sign-in over HTTP/JSON, tokens checked by a
// JOSE client against the gateway's /.well-known/jwks.json, the caller's token
// carried to catalog, which verifies it against identity's keys over gRPC,
// and the same catalog over gRPC-Web. Only these two services are configured,
// so the gateway serves a subset of the descriptor set.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createFileRegistry } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/web/google/rpc/error_details_pb.js";
import { CatalogService } from "../gen/web/mel/catalog/v1/catalog_pb.js";
import { createLogger } from "../platform/log/index.js";
import { testCatalogConfig } from "../services/catalog/catalog.test-support.js";
import { demoCatalogSize } from "../services/catalog/demo-catalog.js";
import { type RunningCatalog, startCatalog } from "../services/catalog/main.js";
import { signInAdmin, startTestIdentity, type TestIdentity, testPassword, uniqueEmail } from "../services/identity/identity.test-support.js";
import { BrokerProbe, ensureRabbitMq } from "../test/support/rabbitmq.js";
import { loadGatewayConfig } from "./config.js";
import { readDescriptorSet } from "./descriptors.js";
import { type RunningGateway, startGateway } from "./gateway.js";
import { descriptorPath } from "./testing/test-stack.js";

const quiet = createLogger({ service: "gateway", level: "silent" });
const descriptorSet = readDescriptorSet(descriptorPath);

let identity: TestIdentity;
let catalog: RunningCatalog;
let gateway: RunningGateway;
let catalogDir: string;
let catalogConfig: ReturnType<typeof testCatalogConfig>;

before(async () => {
  await ensureRabbitMq();
  identity = await startTestIdentity("sqlite");
  catalogDir = mkdtempSync(join(tmpdir(), "mel-gateway-catalog-"));
  const defaults = testCatalogConfig(`sqlite:${join(catalogDir, "catalog.db")}`);
  // No authenticate override: catalog trusts tokens through identity's JWKS, fetched over gRPC.
  catalogConfig = { ...defaults, trust: { ...defaults.trust, MEL_IDENTITY_ADDRESS: identity.address, MEL_TOKEN_CLOCK_SKEW: 2000 } };
  catalog = await startCatalog({ config: catalogConfig, logger: quiet });
  const config = {
    ...loadGatewayConfig({}),
    host: "127.0.0.1",
    port: 0,
    upstreams: { "mel.identity.v1.IdentityService": identity.address, "mel.catalog.v1.CatalogService": `127.0.0.1:${catalog.port}` },
  };
  gateway = await startGateway(config, { descriptorSet, logger: quiet });
});

after(async () => {
  await gateway?.close();
  await catalog?.stop();
  await identity?.stop();
  if (catalogConfig) {
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(catalogConfig.exchange.replace(/\.events$/, ""));
    await probe.close();
  }
  if (catalogDir) rmSync(catalogDir, { recursive: true, force: true });
});

async function http(method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(gateway.url + path, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === "" ? undefined : JSON.parse(text) };
}

async function signUpOverHttp(): Promise<{ email: string; userId: string; accessToken: string }> {
  const email = uniqueEmail("gateway");
  const registered = await http("POST", "/api/v1/identity/register", { body: { email: ` ${email.toUpperCase()} `, password: testPassword } });
  assert.equal(registered.status, 200, JSON.stringify(registered.json));
  assert.equal(registered.json.user.email, email);
  const login = await http("POST", "/api/v1/identity/login", { body: { email, password: testPassword } });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  return { email, userId: registered.json.user.id, accessToken: login.json.accessToken };
}

describe("identity behind the gateway", () => {
  it("registers, signs in and answers Me over HTTP/JSON, with identity's own errors mapped", async () => {
    const buyer = await signUpOverHttp();
    const me = await http("GET", "/api/v1/identity/me", { token: buyer.accessToken });
    assert.equal(me.status, 200);
    assert.deepEqual({ id: me.json.user.id, email: me.json.user.email, roles: me.json.user.roles }, { id: buyer.userId, email: buyer.email, roles: ["buyer"] });
    assert.match(me.json.tokenExpireTime, /^\d{4}-\d\d-\d\dT/);

    const again = await http("POST", "/api/v1/identity/register", { body: { email: buyer.email, password: testPassword } });
    assert.deepEqual([again.status, again.json.code], [409, Code.AlreadyExists]);
    const wrong = await http("POST", "/api/v1/identity/login", { body: { email: buyer.email, password: "not-the-password" } });
    assert.deepEqual([wrong.status, wrong.json.message], [401, "the email or password is not correct"]);
    const anonymous = await http("GET", "/api/v1/identity/me");
    assert.equal(anonymous.status, 401);
    const short = await http("POST", "/api/v1/identity/register", { body: { email: uniqueEmail(), password: "short" } });
    assert.equal(short.status, 400);
    assert.match(short.json.message, /^password: must be at least 8 characters/);
  });

  it("serves identity's JWK Set at /.well-known/jwks.json, and a JOSE client verifies tokens with it", async () => {
    const buyer = await signUpOverHttp();
    const keys = createRemoteJWKSet(new URL(`${gateway.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(buyer.accessToken, keys, { issuer: "mel-identity", audience: "mel-api", algorithms: ["ES256"] });
    assert.equal(payload.sub, buyer.userId);
    assert.equal(protectedHeader.typ, "at+jwt");
  });
});

describe("catalog behind the gateway", () => {
  it("lists the seeded catalogue anonymously and refuses bad paging with the field named", async () => {
    const page = await http("GET", "/api/v1/catalog/items?pageSize=5&sort=ITEM_SORT_PRICE_ASC");
    assert.equal(page.status, 200);
    assert.equal(page.json.totalCount, demoCatalogSize.items);
    assert.equal(page.json.items.length, 5);
    assert.equal(typeof page.json.items[0].price.amountMinor, "string", "int64 travels as a JSON string");
    const next = await http("GET", `/api/v1/catalog/items?pageSize=5&sort=ITEM_SORT_PRICE_ASC&pageToken=${encodeURIComponent(page.json.nextPageToken)}`);
    assert.equal(next.status, 200);
    assert.ok(BigInt(next.json.items[0].price.amountMinor) >= BigInt(page.json.items[4].price.amountMinor));

    const bad = await http("GET", "/api/v1/catalog/items?pageSize=500");
    assert.deepEqual([bad.status, bad.json.code], [400, Code.InvalidArgument]);
    assert.match(bad.json.message, /^page_size: /);
    const missing = await http("GET", "/api/v1/catalog/items/no-such-item");
    assert.equal(missing.status, 404);
  });

  it("carries the caller's token to catalog: anonymous 401, buyer 403, admin allowed", async () => {
    const [item] = (await http("GET", "/api/v1/catalog/items?pageSize=1")).json.items;
    const path = `/api/v1/catalog/items/${item.id}:adjustStock`;
    const body = { delta: 1, reason: "gateway test" };
    const anonymous = await http("POST", path, { body });
    assert.deepEqual([anonymous.status, anonymous.headers.get("www-authenticate")], [401, "Bearer"]);
    const buyer = await signUpOverHttp();
    const denied = await http("POST", path, { body, token: buyer.accessToken });
    assert.equal(denied.status, 403);
    assert.match(denied.json.message, /"admin" role/);
    const forged = await http("POST", path, { body, token: `${buyer.accessToken.slice(0, -4)}AAAA` });
    assert.equal(forged.status, 401);

    const admin = await signInAdmin(identity);
    const adjusted = await http("POST", path, { body, token: admin.accessToken });
    assert.equal(adjusted.status, 200, JSON.stringify(adjusted.json));
    assert.equal(adjusted.json.item.availableStock, item.availableStock + 1);
  });

  it("answers the same catalogue over gRPC-Web", async () => {
    const service = createFileRegistry(descriptorSet).getService("mel.catalog.v1.CatalogService")!;
    const client = createClient(service, createGrpcWebTransport({ baseUrl: gateway.url })) as unknown as Record<string, (request: unknown) => Promise<any>>;
    const [first] = (await http("GET", "/api/v1/catalog/items?pageSize=1")).json.items;
    const { item } = await client.getItem!({ id: first.id });
    assert.deepEqual([item.id, item.name, String(item.price.amountMinor)], [first.id, first.name, first.price.amountMinor]);
    const error = await client.getItem!({ id: "no-such-item" }).then(
      () => assert.fail("GetItem of an unknown id should fail"),
      (failure: unknown) => ConnectError.from(failure),
    );
    assert.equal(error.code, Code.NotFound);
  });

  it("puts the upstream's error details in the JSON body as grpc-gateway does", async () => {
    const bad = await http("GET", "/api/v1/catalog/items?pageSize=500");
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.json.details.map((detail: { "@type": string }) => detail["@type"]),
      ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"],
    );
    assert.deepEqual({ reason: bad.json.details[0].reason, domain: bad.json.details[0].domain }, { reason: "FIELD_INVALID", domain: "mel.lojasmel.com" });
    assert.deepEqual(
      bad.json.details[1].fieldViolations.map((violation: { field: string }) => violation.field),
      ["page_size"],
    );
  });

  it("hands gRPC-Web clients the error details in the trailers", async () => {
    const client = createClient(CatalogService, createGrpcWebTransport({ baseUrl: gateway.url }));
    const error = await client.listItems({ pageSize: 500 }).then(
      () => assert.fail("ListItems with page_size 500 should fail"),
      (failure: unknown) => ConnectError.from(failure),
    );
    assert.equal(error.code, Code.InvalidArgument);
    assert.deepEqual(
      error.findDetails(BadRequestSchema).flatMap((request) => request.fieldViolations.map((violation) => violation.field)),
      ["page_size"],
    );
    assert.deepEqual(
      error.findDetails(ErrorInfoSchema).map((info) => info.reason),
      ["FIELD_INVALID"],
    );
  });

  it("reports both upstreams ready", async () => {
    const ready = await http("GET", "/readyz");
    assert.equal(ready.status, 200, JSON.stringify(ready.json));
    assert.deepEqual(Object.keys(ready.json.upstreams).sort(), ["mel.catalog.v1.CatalogService", "mel.identity.v1.IdentityService"]);
  });
});
