// Identity and catalog as they run in production, with mutual TLS on: every
// call, including catalog's own JWKS fetch from identity, goes over TLS with
// certificates made here, and each side admits only the names it expects.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import { CatalogServiceClient } from "../gen/mel/catalog/v1/catalog.js";
import { IdentityServiceClient } from "../gen/mel/identity/v1/identity.js";
import { callUnary, createClient, createGrpcClientTransport } from "../platform/grpc/index.js";
import { createCertificateFolder, createTestCa, issueCertificate, type TestCertificate } from "../platform/grpc/tls.test-support.js";
import { createLogger } from "../platform/log/index.js";
import { testCatalogConfig } from "../services/catalog/catalog.test-support.js";
import { type RunningCatalog, startCatalog } from "../services/catalog/main.js";
import { createTestDatabase, type TestDatabase, testAdmin, testIdentityConfig } from "../services/identity/identity.test-support.js";
import { type RunningIdentity, startIdentity } from "../services/identity/main.js";
import { ensureRabbitMq } from "./support/rabbitmq.js";

const quiet = createLogger({ service: "test", level: "silent" });
const folder = createCertificateFolder();
const closers: (() => void)[] = [];
let identity: RunningIdentity;
let catalog: RunningCatalog;
let identityDatabase: TestDatabase;
let certificates: Record<"identity" | "catalog" | "gateway" | "ordering", TestCertificate>;
let caFile: string;

function tlsEnv(certificate: TestCertificate, allowedClients: string): Record<string, string> {
  return {
    MEL_GRPC_TLS_CERT: certificate.certFile,
    MEL_GRPC_TLS_KEY: certificate.keyFile,
    MEL_GRPC_TLS_CA: caFile,
    MEL_GRPC_TLS_ALLOWED_CLIENTS: allowedClients,
  };
}

before(async () => {
  await ensureRabbitMq();
  const ca = createTestCa(folder.dir, "mesh");
  caFile = ca.certFile;
  certificates = {
    identity: issueCertificate(ca, "identity", ["identity", "identity.mel.svc.cluster.local"]),
    catalog: issueCertificate(ca, "catalog", ["catalog", "catalog.mel.svc.cluster.local"]),
    gateway: issueCertificate(ca, "gateway", ["gateway"]),
    ordering: issueCertificate(ca, "ordering", ["ordering"]),
  };
  identityDatabase = await createTestDatabase("sqlite");
  identity = await startIdentity({
    config: testIdentityConfig(identityDatabase.url, tlsEnv(certificates.identity, "gateway,catalog")),
    logger: quiet,
  });
  const catalogConfig = testCatalogConfig(`sqlite:${join(folder.dir, "catalog.db")}`);
  catalog = await startCatalog({
    config: {
      ...catalogConfig,
      trust: { ...catalogConfig.trust, MEL_IDENTITY_ADDRESS: `127.0.0.1:${identity.port}` },
      grpc: {
        tls: { certFile: certificates.catalog.certFile, keyFile: certificates.catalog.keyFile, caFile, refreshIntervalMs: 60_000 },
        allowedClients: ["gateway"],
        maxConnectionAgeMs: 300_000,
        maxConnectionAgeGraceMs: 1000,
        healthPort: undefined,
      },
    },
    logger: quiet,
  });
});

after(async () => {
  for (const close of closers) close();
  await catalog?.stop();
  await identity?.stop();
  await identityDatabase?.remove();
  folder.remove();
});

/** A client of `upstream` presenting `as`'s certificate, as that part would call it. */
function clientAs<C extends CatalogServiceClient | IdentityServiceClient>(
  Client: typeof CatalogServiceClient | typeof IdentityServiceClient,
  upstream: "catalog" | "identity",
  port: number,
  as: TestCertificate,
): C {
  const transport = createGrpcClientTransport({ tls: { certFile: as.certFile, keyFile: as.keyFile, caFile, refreshIntervalMs: 60_000 } });
  const { client } = createClient(Client as typeof CatalogServiceClient, {
    upstream,
    target: `127.0.0.1:${port}`,
    defaultDeadlineMs: 5000,
    logger: quiet,
    ...transport.clientOptions(upstream),
  });
  closers.push(() => client.close());
  return client as unknown as C;
}

describe("the mesh with mutual TLS", () => {
  test("catalog verifies a token against identity's JWKS fetched over mutual TLS", async () => {
    const identityClient = clientAs<IdentityServiceClient>(IdentityServiceClient, "identity", identity.port, certificates.gateway);
    const login = await callUnary(identityClient, "login", { email: testAdmin.email, password: testAdmin.password });
    const catalogClient = clientAs<CatalogServiceClient>(CatalogServiceClient, "catalog", catalog.port, certificates.gateway);
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${login.accessToken}`);
    // An admin-only method: it reaches the handler (NOT_FOUND for an unknown
    // item) only once the token checked out against identity's keys.
    const error = await callUnary(catalogClient, "deleteItem", { id: "00000000-0000-4000-8000-000000000000" }, { metadata }).then(
      () => assert.fail("deleting an unknown item succeeded"),
      (failure: { code: number; details: string }) => failure,
    );
    assert.equal(error.code, GrpcStatus.NOT_FOUND, error.details);
  });

  test("a service refuses a part its configuration does not list as a caller", async () => {
    const catalogClient = clientAs<CatalogServiceClient>(CatalogServiceClient, "catalog", catalog.port, certificates.ordering);
    const error = await callUnary(catalogClient, "listBrands", {}).then(
      () => assert.fail("ordering was served by catalog"),
      (failure: { code: number; details: string }) => failure,
    );
    assert.equal(error.code, GrpcStatus.PERMISSION_DENIED);
    assert.equal(
      error.details,
      "/mel.catalog.v1.CatalogService/ListBrands: the client presented a certificate naming ordering; this server accepts calls from gateway",
    );
  });
});
