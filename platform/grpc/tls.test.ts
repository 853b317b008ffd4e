import assert from "node:assert/strict";
import { mkdirSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type PeerCertificate } from "node:tls";
import { type Client, credentials, status as GrpcStatus, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { ConfigError } from "../config/index.js";
import { callUnary, createClient } from "./client.js";
import { captureLog, item, rejectionOf, startCatalogServer, type TestServer } from "./grpc.test-support.js";
import { createCertificateFolder, createTestCa, issueCertificate, type TestCa, type TestCertificate } from "./tls.test-support.js";
import { createGrpcClientTransport, createGrpcServerTransport, type GrpcServerTransportConfig, grpcClientTransportFrom } from "./transport.js";

const folder = createCertificateFolder();
let ca: TestCa;
let otherCa: TestCa;
const closers: (() => void)[] = [];
const servers: TestServer[] = [];
before(() => {
  ca = createTestCa(folder.dir, "mesh");
  otherCa = createTestCa(folder.dir, "elsewhere");
});
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
  folder.remove();
});

/**
 * Certificate files laid out as the kubelet mounts a Secret: tls.crt and
 * tls.key are links through `..data`, a link to a timestamped folder that a
 * renewal replaces in one rename, so readers never see a half-written pair.
 */
function mountedCertificate(name: string, certificate: TestCertificate): { certFile: string; keyFile: string; renew(next: TestCertificate): void } {
  const mount = join(folder.dir, `${name}-mount`);
  let version = 0;
  const publish = (source: TestCertificate) => {
    version += 1;
    const target = join(mount, `v${version}`);
    mkdirSync(target, { recursive: true });
    renameSync(source.certFile, join(target, "tls.crt"));
    renameSync(source.keyFile, join(target, "tls.key"));
    const link = join(mount, `..data-${version}`);
    symlinkSync(`v${version}`, link);
    renameSync(link, join(mount, "..data"));
  };
  publish(certificate);
  symlinkSync("..data/tls.crt", join(mount, "tls.crt"));
  symlinkSync("..data/tls.key", join(mount, "tls.key"));
  return { certFile: join(mount, "tls.crt"), keyFile: join(mount, "tls.key"), renew: publish };
}

function tlsFiles(certificate: TestCertificate, caFile = ca.certFile) {
  return { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile, refreshIntervalMs: 50 };
}

async function startCatalog(certificate: TestCertificate, options: Partial<GrpcServerTransportConfig> = {}) {
  const transport = createGrpcServerTransport({
    tls: tlsFiles(certificate),
    allowedClients: ["basket", "gateway"],
    maxConnectionAgeMs: 60_000,
    maxConnectionAgeGraceMs: 1000,
    healthPort: undefined,
    ...options,
  });
  const server = await startCatalogServer({ getItem: async (request) => ({ item: item(request.id) }) }, { serverOptions: transport.serverOptions });
  servers.push(server);
  return { server: server.grpc, address: server.address };
}

function catalogClient(address: string, clientOptions: ReturnType<ReturnType<typeof createGrpcClientTransport>["clientOptions"]>) {
  const { client } = createClient(CatalogServiceClient, {
    upstream: "catalog",
    target: address,
    defaultDeadlineMs: 2000,
    logger: captureLog().logger,
    ...clientOptions,
  });
  closers.push(() => client.close());
  return client;
}

function clientWith(address: string, certificate: TestCertificate, caFile = ca.certFile) {
  return catalogClient(address, createGrpcClientTransport({ tls: tlsFiles(certificate, caFile) }).clientOptions("catalog"));
}

/** The serial number of the certificate the server at `port` presents now. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
      const certificate: PeerCertificate = socket.getPeerCertificate();
      socket.destroy();
      resolve(certificate.serialNumber);
    });
    socket.once("error", reject);
  });
}

describe("mutual TLS between services", () => {
  test("a client whose certificate names an allowed service is served", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "catalog-served", ["catalog", "catalog.mel.svc.cluster.local"]));
    const client = clientWith(address, issueCertificate(ca, "basket-served", ["basket.mel.svc.cluster.local"]));
    const response = await callUnary(client, "getItem", { id: "7" });
    assert.equal(response.item?.id, "7");
  });

  test("a client without a certificate is refused during the handshake", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "catalog-nocert", ["catalog"]));
    const { client } = createClient(CatalogServiceClient, {
      upstream: "catalog",
      target: address,
      defaultDeadlineMs: 2000,
      logger: captureLog().logger,
      credentials: credentials.createSsl(null),
    });
    closers.push(() => client.close());
    const error = await rejectionOf(callUnary(client, "getItem", { id: "7" }));
    // TLS refuses it before any HTTP/2 frame, so the client only learns that no connection could be made.
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
    assert.match(error.details, /No connection established/);
  });

  test("a plaintext client is refused", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "catalog-plain", ["catalog"]));
    const client = catalogClient(address, {});
    const error = await rejectionOf(callUnary(client, "getItem", { id: "7" }));
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
  });

  test("a client whose certificate comes from another CA is refused during the handshake", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "catalog-foreign", ["catalog"]));
    // It trusts the mesh CA, so only the server's check of its certificate can fail.
    const client = clientWith(address, issueCertificate(otherCa, "basket-foreign", ["basket"]));
    const error = await rejectionOf(callUnary(client, "getItem", { id: "7" }));
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
    assert.match(error.details, /No connection established/);
  });

  test("a client whose certificate names a service the server does not expect answers PERMISSION_DENIED", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "catalog-unexpected", ["catalog"]));
    const client = clientWith(address, issueCertificate(ca, "ordering-unexpected", ["ordering", "ordering.mel.svc"]));
    const error = await rejectionOf(callUnary(client, "getItem", { id: "7" }));
    assert.equal(error.code, GrpcStatus.PERMISSION_DENIED);
    assert.equal(
      error.details,
      "/mel.catalog.v1.CatalogService/GetItem: the client presented a certificate naming ordering, ordering.mel.svc; this server accepts calls from basket, gateway",
    );
  });

  test("a server whose certificate names another service is refused by the client", async () => {
    const { address } = await startCatalog(issueCertificate(ca, "impostor", ["ordering"]));
    const client = clientWith(address, issueCertificate(ca, "basket-impostor", ["basket"]));
    const error = await rejectionOf(callUnary(client, "getItem", { id: "7" }));
    assert.equal(error.code, GrpcStatus.UNAVAILABLE);
    assert.match(error.details, /the server's certificate names ordering, not catalog/);
  });

  test("renewed certificates are taken from the files while calls keep working", async () => {
    const serverMount = mountedCertificate("catalog-renewed", issueCertificate(ca, "catalog-renewed-1", ["catalog"]));
    const clientMount = mountedCertificate("basket-renewed", issueCertificate(ca, "basket-renewed-1", ["basket"]));
    const { address } = await startCatalog(serverMount);
    const port = Number(address.split(":")[1]);
    const client = clientWith(address, clientMount);
    assert.equal((await callUnary(client, "getItem", { id: "1" })).item?.id, "1");
    const before = await servedSerial(port);

    serverMount.renew(issueCertificate(ca, "catalog-renewed-2", ["catalog"]));
    clientMount.renew(issueCertificate(ca, "basket-renewed-2", ["basket"]));
    let calls = 0;
    while ((await servedSerial(port)) === before) {
      // Calls go on while the files change under the server and the client.
      assert.equal((await callUnary(client, "getItem", { id: String(++calls) })).item?.id, String(calls));
    }

    assert.equal((await callUnary(client, "getItem", { id: "after" })).item?.id, "after");
    const freshClient = clientWith(address, clientMount);
    assert.equal((await callUnary(freshClient, "getItem", { id: "fresh" })).item?.id, "fresh");
  });

  test("the health port answers probes in plaintext while the service port needs TLS", async () => {
    const { server } = await startCatalog(issueCertificate(ca, "catalog-health", ["catalog"]), { healthPort: 0 });
    const healthPort = server.healthPort();
    assert.ok(healthPort !== undefined && healthPort > 0);
    const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    const health = new HealthClient(`127.0.0.1:${healthPort}`, credentials.createInsecure()) as unknown as Client & {
      Check(request: { service: string }, callback: (error: ServiceError | null, response?: { status: string }) => void): void;
    };
    closers.push(() => health.close());
    const status = await new Promise<string>((resolve, reject) =>
      health.Check({ service: "mel.catalog.v1.CatalogService" }, (error, response) => (error ? reject(error) : resolve(response?.status ?? ""))),
    );
    assert.equal(status, "SERVING");
  });
});

describe("transport configuration", () => {
  test("no TLS files means plaintext", () => {
    assert.deepEqual(grpcClientTransportFrom({ MEL_GRPC_TLS_REFRESH_INTERVAL: 1000 }), { tls: undefined });
  });

  test("a certificate without its key and CA is refused, naming the missing variables", () => {
    assert.throws(
      () => grpcClientTransportFrom({ MEL_GRPC_TLS_CERT: "/tls/tls.crt", MEL_GRPC_TLS_REFRESH_INTERVAL: 1000 }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 2 &&
        error.problems[0] === "MEL_GRPC_TLS_KEY: is required when MEL_GRPC_TLS_CERT is set (mutual TLS needs all three files)" &&
        error.problems[1] === "MEL_GRPC_TLS_CA: is required when MEL_GRPC_TLS_CERT is set (mutual TLS needs all three files)",
    );
  });
});
