import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  status as GrpcStatus,
  loadPackageDefinition,
  makeGenericClientConstructor,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { FileDescriptorProto } from "../../gen/google/protobuf/descriptor.js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { awaitedLater, waitUntil } from "../../test/support/wait.js";
import { callUnary, createClient } from "./client.js";
import { captureLog, item, rejectionOf, startCatalogServer, type TestServer } from "./grpc.test-support.js";
import { createGrpcServer } from "./server.js";

const closers: (() => void)[] = [];
const servers: TestServer[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});

// grpc.health.v1.Health from grpc-health-check's own definition.
interface HealthClient extends Client {
  Check(request: { service: string }, callback: (error: ServiceError | null, response?: { status: string }) => void): void;
  Watch(request: { service: string }): ClientReadableStream<{ status: string }>;
}
const HealthClientConstructor = makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => HealthClient;

function healthClient(address: string): HealthClient {
  const client = new HealthClientConstructor(address, credentials.createInsecure());
  closers.push(() => client.close());
  return client;
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => client.Check({ service }, (error, response) => (error ? reject(error) : resolve(response?.status ?? ""))));
}

function catalogClient(address: string) {
  const { client } = createClient(CatalogServiceClient, { upstream: "catalog", target: address, logger: captureLog().logger });
  closers.push(() => client.close());
  return client;
}

describe("health", () => {
  test("reports the server and each added service SERVING, and an unknown service NOT_FOUND", async () => {
    const server = await startCatalogServer({});
    servers.push(server);
    const health = healthClient(server.address);
    assert.equal(await check(health, ""), "SERVING");
    assert.equal(await check(health, "mel.catalog.v1.CatalogService"), "SERVING");
    const unknown = await rejectionOf(check(health, "mel.nothing.v1.Nothing"));
    assert.equal(unknown.code, GrpcStatus.NOT_FOUND);
  });

  test("stays NOT_SERVING after listen until what it waits on is ready, then reports SERVING", async () => {
    let becomeReady = () => {};
    const server = await startCatalogServer({}, { readyWhen: new Promise<void>((resolve) => (becomeReady = resolve)) });
    servers.push(server);
    const health = healthClient(server.address);
    assert.equal(await check(health, ""), "NOT_SERVING");
    assert.equal(await check(health, "mel.catalog.v1.CatalogService"), "NOT_SERVING");
    becomeReady();
    await waitUntil("the server to report SERVING once ready", async () => (await check(health, "")) === "SERVING");
    assert.equal(await check(health, "mel.catalog.v1.CatalogService"), "SERVING");
  });

  test("stays NOT_SERVING, and says why, when what it waits on fails even before listen", async () => {
    const log = captureLog("server");
    // Rejected before listen() binds the port: the server must handle it, not leave it unhandled.
    const server = await startCatalogServer({}, { logger: log.logger, readyWhen: Promise.reject(new Error("identity never answered")) });
    servers.push(server);
    await waitUntil("the failed readiness to be logged", () => log.lines.some((line) => line.level === "error"));
    const [failure] = log.lines.filter((line) => line.level === "error");
    assert.match(String(failure?.msg), /stays NOT_SERVING: a readiness condition failed/);
    assert.match(JSON.stringify(failure?.err), /identity never answered/);
    assert.equal(await check(healthClient(server.address), ""), "NOT_SERVING");
  });

  test("a service's status can be changed on its own", async () => {
    const server = await startCatalogServer({});
    servers.push(server);
    const health = healthClient(server.address);
    server.grpc.setServingStatus("mel.catalog.v1.CatalogService", "NOT_SERVING");
    assert.equal(await check(health, "mel.catalog.v1.CatalogService"), "NOT_SERVING");
    assert.equal(await check(health, ""), "SERVING");
  });
});

describe("reflection", () => {
  // The v1alpha reflection.proto that ships inside @grpc/reflection, read with a real client.
  const reflectionProto = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto/grpc/reflection/v1alpha/reflection.proto");
  interface ReflectionResponse {
    list_services_response?: { service: { name: string }[] };
    file_descriptor_response?: { file_descriptor_proto: Buffer[] };
    error_response?: { error_code: number; error_message: string };
  }
  type ReflectionClient = Client & { ServerReflectionInfo(): ClientDuplexStream<Record<string, string>, ReflectionResponse> };

  function reflect(address: string, request: Record<string, string>): Promise<ReflectionResponse> {
    const definition = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }));
    const ReflectionConstructor = ((definition.grpc as Record<string, unknown>).reflection as Record<string, Record<string, unknown>>).v1alpha!
      .ServerReflection as new (
      address: string,
      creds: ReturnType<typeof credentials.createInsecure>,
    ) => ReflectionClient;
    const client = new ReflectionConstructor(address, credentials.createInsecure());
    closers.push(() => client.close());
    return new Promise((resolve, reject) => {
      const stream = client.ServerReflectionInfo();
      stream.on("data", (response: ReflectionResponse) => {
        resolve(response);
        stream.end();
      });
      stream.on("error", reject);
      stream.write(request);
    });
  }

  test("lists the services the server serves", async () => {
    const server = await startCatalogServer({});
    servers.push(server);
    const response = await reflect(server.address, { list_services: "*" });
    const names = response.list_services_response?.service.map((service) => service.name) ?? [];
    assert.ok(names.includes("mel.catalog.v1.CatalogService"), `listed: ${names.join(", ")}`);
    assert.ok(!names.includes("mel.identity.v1.IdentityService"), "services this server does not serve are not listed");
  });

  test("describes a service: the file holding it has its methods", async () => {
    const server = await startCatalogServer({});
    servers.push(server);
    const response = await reflect(server.address, { file_containing_symbol: "mel.catalog.v1.CatalogService" });
    const files = (response.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) => FileDescriptorProto.decode(bytes));
    const catalog = files.flatMap((file) => file.service).find((service) => service.name === "CatalogService");
    assert.ok(catalog, `files: ${files.map((file) => file.name).join(", ")}`);
    assert.ok(catalog.method.some((method) => method.name === "GetItemsByIds" && method.inputType === ".mel.catalog.v1.GetItemsByIdsRequest"));
  });

  test("files keep their names and imports, and every import can be fetched, so clients can link them", async () => {
    const server = await startCatalogServer({});
    servers.push(server);
    const response = await reflect(server.address, { file_containing_symbol: "mel.catalog.v1.CatalogService" });
    const files = (response.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) => FileDescriptorProto.decode(bytes));
    const catalogFile = files.find((file) => file.name === "mel/catalog/v1/catalog.proto");
    assert.ok(catalogFile, `files: ${files.map((file) => file.name).join(", ")}`);
    assert.ok(catalogFile.dependency.includes("mel/common/v1/money.proto"), `imports: ${catalogFile.dependency.join(", ")}`);
    // Imports used only for options (google/api/annotations.proto) are not sent along; clients fetch them by name.
    const sent = new Set(files.map((file) => file.name));
    for (const dependency of catalogFile.dependency.filter((name) => !sent.has(name))) {
      const byName = await reflect(server.address, { file_by_filename: dependency });
      const [file] = byName.file_descriptor_response?.file_descriptor_proto ?? [];
      assert.ok(file, `${dependency} can be fetched by name: ${JSON.stringify(byName.error_response)}`);
      assert.equal(FileDescriptorProto.decode(file).name, dependency);
    }
  });
});

describe("reflection as command-line tools use it", () => {
  // The real buf CLI (a devDependency), so the reflection service is checked by
  // the client the README points operators to, over reflection v1.
  const buf = resolve(dirname(fileURLToPath(import.meta.url)), "../../node_modules/.bin/buf");
  const run = promisify(execFile);
  const bufCurl = (...args: string[]) =>
    run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", "--reflect-protocol", "grpc-v1", ...args], { timeout: 30_000 });

  test("buf curl --reflect lists the served methods and calls one with JSON", async () => {
    const server = await startCatalogServer({ getItem: async (request) => ({ item: item(request.id, "reflected") }) });
    servers.push(server);
    const { stdout: methods } = await bufCurl("--list-methods", `http://${server.address}`);
    assert.ok(methods.split("\n").includes("mel.catalog.v1.CatalogService/GetItemsByIds"), methods);
    assert.ok(!methods.includes("mel.identity.v1"), methods);
    const { stdout: reply } = await bufCurl("--data", '{"id":"r-1"}', `http://${server.address}/mel.catalog.v1.CatalogService/GetItem`);
    assert.deepEqual(JSON.parse(reply), { item: { id: "r-1", name: "reflected" } });
  });
});

describe("graceful drain", () => {
  test("health turns NOT_SERVING, the in-flight call completes, and new calls are refused", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const server = await startCatalogServer({
      async getItem(request) {
        started = true;
        await released;
        return { item: item(request.id) };
      },
    });
    const client = catalogClient(server.address);
    const health = healthClient(server.address);
    const watch = health.Watch({ service: "mel.catalog.v1.CatalogService" });
    const statuses: string[] = [];
    watch.on("data", (response: { status: string }) => statuses.push(response.status));
    watch.on("error", () => undefined);
    await waitUntil("the watch to report SERVING", () => statuses.includes("SERVING"));

    const inFlight = awaitedLater(callUnary(client, "getItem", { id: "in-flight" }, { deadline: new Date(Date.now() + 10_000) }));
    await waitUntil("the in-flight call to reach its handler", () => started);
    const drained = awaitedLater(server.grpc.drain(10_000));
    await waitUntil("the watch to report NOT_SERVING", () => statuses.includes("NOT_SERVING"));
    watch.cancel();

    const refused = await rejectionOf(callUnary(catalogClient(server.address), "getItem", { id: "late" }));
    assert.equal(refused.code, GrpcStatus.UNAVAILABLE);

    release();
    assert.equal((await inFlight).item?.id, "in-flight");
    await drained;
  });

  test("calls still running when the grace period ends are cancelled and drain resolves", async () => {
    let started = false;
    const server = await startCatalogServer({
      async getItem(_request, ctx) {
        started = true;
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        return {};
      },
    });
    const client = catalogClient(server.address);
    const stuck = awaitedLater(rejectionOf(callUnary(client, "getItem", { id: "stuck" }, { deadline: new Date(Date.now() + 30_000) })));
    await waitUntil("the stuck call to reach its handler", () => started);
    const before = Date.now();
    await server.grpc.drain(100);
    assert.ok(Date.now() - before < 10_000, "drain does not wait for the stuck call's deadline");
    assert.ok([GrpcStatus.CANCELLED, GrpcStatus.UNAVAILABLE].includes((await stuck).code));
  });
});

test("listen with no service added is an error that says so", async () => {
  const grpc = createGrpcServer({ serviceName: "empty", logger: captureLog().logger });
  await assert.rejects(grpc.listen("127.0.0.1", 0), /empty: no service added before listen\(\)/);
});
