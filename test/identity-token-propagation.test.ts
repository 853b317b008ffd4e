// Token trust across the mesh: a front service (a CatalogService on loopback)
// verifies callers against identity's JWKS fetched over gRPC, and the calls
// its handler makes to identity carry the caller's token on without the
// handler passing it (platform/grpc's client propagation).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { decodeProtectedHeader } from "jose";
import { CatalogItem, CatalogServiceClient, CatalogServiceService } from "../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../gen/mel/identity/v1/identity.js";
import { createTestSigningKey, signTestToken } from "../platform/auth/auth.test-support.js";
import { createServiceAuthenticate, type ServiceAuthenticate } from "../platform/auth/index.js";
import { UnauthenticatedError } from "../platform/errors/index.js";
import {
  callUnary,
  createClient,
  createGrpcServer,
  type GrpcServer,
  implementService,
  type MethodPolicies,
  UpstreamFailureError,
} from "../platform/grpc/index.js";
import { createLogger } from "../platform/log/index.js";
import { rejectionOf, signInAdmin, signUp, startTestIdentity, type TestIdentity } from "../services/identity/identity.test-support.js";

const quiet = createLogger({ service: "front", level: "silent" });

interface Front {
  client: CatalogServiceClient;
  authenticate: ServiceAuthenticate;
  server: GrpcServer;
  stop(): Promise<void>;
}

/** A CatalogService whose GetItem (signed-in callers) and ListBrands (public) ask identity who the caller is. */
async function startFront(identity: TestIdentity, unknownKidCooldown: string): Promise<Front> {
  const authenticate = createServiceAuthenticate(
    {
      MEL_TOKEN_ISSUER: identity.config.tokens.issuer,
      MEL_TOKEN_AUDIENCE: identity.config.tokens.audience,
      MEL_TOKEN_CLOCK_SKEW: 2000,
      MEL_IDENTITY_ADDRESS: identity.address,
      MEL_JWKS_MAX_AGE: 300_000,
      MEL_JWKS_UNKNOWN_KID_COOLDOWN: Number(unknownKidCooldown),
    },
    quiet,
  );
  const { client: identityClient } = createClient(IdentityServiceClient, {
    upstream: "identity",
    target: identity.address,
    logger: quiet,
  });
  const whoAmI = async () => {
    try {
      const me = await callUnary(identityClient, "me", {});
      return CatalogItem.fromPartial({ id: me.user!.id, name: me.user!.email });
    } catch (error) {
      // The token identity refused is the caller's own, carried on: translated on purpose into the caller's UNAUTHENTICATED.
      if (error instanceof UpstreamFailureError && error.upstreamStatus.code === status.UNAUTHENTICATED) {
        throw new UnauthenticatedError(error.upstreamStatus.details, { cause: error });
      }
      throw error;
    }
  };
  const unimplemented = async (): Promise<never> => {
    throw { code: status.UNIMPLEMENTED, details: "not part of this test" };
  };
  const policies = Object.fromEntries(Object.keys(CatalogServiceService).map((name) => [name, "public"])) as MethodPolicies<typeof CatalogServiceService>;
  policies.getItem = "authenticated";
  const server = createGrpcServer({ serviceName: "front", logger: quiet });
  server.addService(
    CatalogServiceService,
    implementService(
      CatalogServiceService,
      {
        listItems: unimplemented,
        getItem: async () => ({ item: await whoAmI() }),
        getItemsByIds: unimplemented,
        listBrands: async () => ({ brands: [{ id: (await whoAmI()).id, name: "caller" }] }),
        listTypes: unimplemented,
        createItem: unimplemented,
        updateItem: unimplemented,
        deleteItem: unimplemented,
        adjustStock: unimplemented,
      },
      { policies, authenticate, logger: quiet },
    ),
  );
  const port = await server.listen("127.0.0.1", 0);
  const client = new CatalogServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return {
    client,
    authenticate,
    server,
    stop: async () => {
      client.close();
      identityClient.close();
      authenticate.close();
      await server.drain(0);
    },
  };
}

function bearer(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

function getJwksCalls(identity: TestIdentity): number {
  return identity
    .logText()
    .split("\n")
    .filter((line) => line.includes('"method":"/mel.identity.v1.IdentityService/GetJwks"') && line.includes('"msg":"grpc call"')).length;
}

describe("token trust across two hops", () => {
  let identity: TestIdentity;
  let front: Front;

  before(async () => {
    identity = await startTestIdentity("sqlite");
    front = await startFront(identity, "0");
  });

  after(async () => {
    await front?.stop();
    await identity?.stop();
  });

  it("verifies the caller at the first hop and carries the token to identity at the second", async () => {
    const buyer = await signUp(identity);
    const { item } = await callUnary(front.client, "getItem", { id: "x" }, { metadata: bearer(buyer.accessToken) });
    assert.deepEqual({ id: item!.id, name: item!.name }, { id: buyer.userId, name: buyer.email });
  });

  it("refuses a caller without a token at the first hop", async () => {
    const error = await rejectionOf(callUnary(front.client, "getItem", { id: "x" }));
    assert.equal(error.code, status.UNAUTHENTICATED);
  });

  it("lets the second hop refuse on its own when a public first hop had no caller to pass on", async () => {
    const error = await rejectionOf(callUnary(front.client, "listBrands", {}));
    assert.equal(error.code, status.UNAUTHENTICATED);
    const buyer = await signUp(identity);
    const { brands } = await callUnary(front.client, "listBrands", {}, { metadata: bearer(buyer.accessToken) });
    assert.equal(brands[0]!.id, buyer.userId);
  });

  it("accepts tokens of a key identity rotated to after the front cached its keys (unknown kid → refetch)", async () => {
    const buyer = await signUp(identity);
    await callUnary(front.client, "getItem", { id: "x" }, { metadata: bearer(buyer.accessToken) });
    const admin = await signInAdmin(identity);
    const { kid } = await identity.call("rotateSigningKey", {}, admin.accessToken);
    const fresh = await identity.call("login", { email: buyer.email, password: "s3nha-de-teste" });
    assert.equal(decodeProtectedHeader(fresh.accessToken).kid, kid);
    const fetchesBefore = getJwksCalls(identity);
    const { item } = await callUnary(front.client, "getItem", { id: "x" }, { metadata: bearer(fresh.accessToken) });
    assert.equal(item!.id, buyer.userId);
    assert.equal(getJwksCalls(identity), fetchesBefore + 1, "one GetJwks for the new kid");
    await callUnary(front.client, "getItem", { id: "x" }, { metadata: bearer(buyer.accessToken) });
  });

  it("asks identity at most once per cool-down however many unknown kids arrive", async () => {
    const guarded = await startFront(identity, "60000");
    try {
      const buyer = await signUp(identity);
      await callUnary(guarded.client, "getItem", { id: "x" }, { metadata: bearer(buyer.accessToken) });
      const fetchesBefore = getJwksCalls(identity);
      const forger = await createTestSigningKey();
      const forged = await Promise.all(
        Array.from({ length: 20 }, () => signTestToken(forger, { claims: { iss: identity.config.tokens.issuer, aud: identity.config.tokens.audience } })),
      );
      for (const token of forged) {
        const error = await rejectionOf(callUnary(guarded.client, "getItem", { id: "x" }, { metadata: bearer(token) }));
        assert.equal(error.code, status.UNAUTHENTICATED);
        assert.match(error.details, /unknown kid/);
      }
      assert.ok(getJwksCalls(identity) - fetchesBefore <= 1, `${getJwksCalls(identity) - fetchesBefore} GetJwks calls for 20 forged kids`);
    } finally {
      await guarded.stop();
    }
  });
});
