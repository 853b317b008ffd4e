// A caller's bad input never counts as the upstream's failure: malformed
// requests sent through the gateway to real platform servers (implementService
// on createGrpcServer) are answered as the caller's mistake, and the gateway's
// circuit to that service stays closed for everyone else. The gateway opens a
// circuit after 5 failures in a row; each case sends more than that.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { IdentityServiceService } from "../gen/mel/identity/v1/identity.js";
import { defaultBreaker } from "../platform/grpc/client-interceptors.js";
import { item, startCatalogServer, startTestServer, type TestServer } from "../platform/grpc/grpc.test-support.js";
import type { Authenticate } from "../platform/grpc/index.js";
import { createLogger } from "../platform/log/index.js";
import { loadGatewayConfig } from "./config.js";
import { readDescriptorSet } from "./descriptors.js";
import { type RunningGateway, startGateway } from "./gateway.js";
import { encodeMessageFrame } from "./grpc-web-framing.js";
import { descriptorPath } from "./testing/test-stack.js";

const attempts = defaultBreaker.consecutiveFailures + 2;
const notAMessage = encodeMessageFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));

let catalog: TestServer;
let identity: TestServer;
let gateway: RunningGateway;

before(async () => {
  // No token ever verifies here: the methods that need one refuse every caller of these tests.
  const authenticate: Authenticate = async () => undefined;
  catalog = await startCatalogServer(
    { getItem: async (request) => ({ item: item(request.id) }), createItem: async (request) => ({ item: request.item }) },
    { policies: { createItem: { role: "admin" } }, authenticate },
  );
  identity = await startTestServer(IdentityServiceService, {
    getJwks: async () => ({ keys: [{ kty: "EC", kid: "k1", use: "sig", alg: "ES256", crv: "P-256", x: "x", y: "y", n: "", e: "" }] }),
  });
  const config = {
    ...loadGatewayConfig({}),
    host: "127.0.0.1",
    port: 0,
    upstreams: { "mel.catalog.v1.CatalogService": catalog.address, "mel.identity.v1.IdentityService": identity.address },
  };
  gateway = await startGateway(config, { descriptorSet: readDescriptorSet(descriptorPath), logger: createLogger({ service: "gateway", level: "silent" }) });
});

after(async () => {
  await gateway?.close();
  await catalog?.stop();
  await identity?.stop();
});

async function grpcWeb(path: string, body: Buffer): Promise<{ status: string | null; message: string | null }> {
  const response = await fetch(gateway.url + path, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body });
  await response.arrayBuffer();
  return { status: response.headers.get("grpc-status"), message: response.headers.get("grpc-message") };
}

async function shopperGetsAnItem(): Promise<void> {
  const response = await fetch(`${gateway.url}/api/v1/catalog/items/item-1`);
  const body = (await response.json()) as { item?: { id: string }; message?: string };
  assert.equal(response.status, 200, `a shopper's GetItem after the bad requests: ${JSON.stringify(body)}`);
  assert.equal(body.item?.id, "item-1");
}

describe("bad input through the gateway", () => {
  it("undecodable gRPC-Web GetItem bodies answer INVALID_ARGUMENT and shoppers still get their items", async () => {
    for (let i = 0; i < attempts; i++) {
      const { status, message } = await grpcWeb("/mel.catalog.v1.CatalogService/GetItem", notAMessage);
      assert.equal(status, String(GrpcStatus.INVALID_ARGUMENT));
      assert.match(message ?? "", /^request body is not a valid mel\.catalog\.v1\.GetItemRequest/);
    }
    await shopperGetsAnItem();
  });

  it("HTTP/JSON CreateItem without a token and with an amountMinor past 2^53 answers 400 naming the field, and shoppers still get their items", async () => {
    for (let i = 0; i < attempts; i++) {
      const response = await fetch(`${gateway.url}/api/v1/catalog/items`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "big", name: "big", price: { amountMinor: "9007199254740993", currencyCode: "BRL" } }),
      });
      const body = (await response.json()) as { code: number; message: string };
      assert.equal(response.status, 400);
      assert.equal(body.code, GrpcStatus.INVALID_ARGUMENT);
      assert.match(body.message, /"item\.price\.amountMinor": 9007199254740993 is outside the integers this API can hold/);
    }
    await shopperGetsAnItem();
  });

  it("undecodable gRPC-Web CreateItem bodies without a token answer UNAUTHENTICATED and shoppers still get their items", async () => {
    for (let i = 0; i < attempts; i++) {
      assert.equal((await grpcWeb("/mel.catalog.v1.CatalogService/CreateItem", notAMessage)).status, String(GrpcStatus.UNAUTHENTICATED));
    }
    await shopperGetsAnItem();
  });

  it("undecodable gRPC-Web Login bodies leave identity's JWKS route serving", async () => {
    for (let i = 0; i < attempts; i++) {
      assert.equal((await grpcWeb("/mel.identity.v1.IdentityService/Login", notAMessage)).status, String(GrpcStatus.INVALID_ARGUMENT));
    }
    const response = await fetch(`${gateway.url}/.well-known/jwks.json`);
    const body = (await response.json()) as { keys?: { kid: string }[] };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.keys?.map((key) => key.kid),
      ["k1"],
    );
  });
});
