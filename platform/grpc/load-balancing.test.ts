// Calls spread over every instance behind one name, and reach instances added
// later: round robin on the client, a maximum connection age on the servers.
// On Kubernetes the name is a headless Service resolved by DNS; here a
// resolver the test controls stands in for DNS, answering with the instances
// "registered" at the moment the channel asks again, as DNS would.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { experimental } from "@grpc/grpc-js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { callUnary, createClient } from "./client.js";
import { captureLog, item, startCatalogServer, type TestServer } from "./grpc.test-support.js";
import { createGrpcServerTransport } from "./transport.js";

const scheme = "mel-test-dns";
const registered = new Map<string, number[]>();
let resolutions = 0;

// Like grpc-js's DNS resolver, it answers at most once per interval
// (grpc.dns_min_time_between_resolutions_ms), however often it is asked.
const minTimeBetweenResolutionsMs = 100;

class RegisteredInstancesResolver implements experimental.Resolver {
  private lastAnswer = 0;
  private pending: NodeJS.Timeout | undefined;
  constructor(
    private readonly target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
  ) {}
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path;
  }
  updateResolution(): void {
    if (this.pending !== undefined) return;
    const wait = Math.max(0, this.lastAnswer + minTimeBetweenResolutionsMs - Date.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.lastAnswer = Date.now();
      resolutions += 1;
      const endpoints = (registered.get(this.target.path) ?? []).map((port) => ({ addresses: [{ host: "127.0.0.1", port }] }));
      this.listener({ ok: true, value: endpoints }, {}, null, "");
    }, wait);
  }
  destroy(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
  }
}
experimental.registerResolver(scheme, RegisteredInstancesResolver);

const servers: TestServer[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((server) => server.stop()));
});

const maxConnectionAgeMs = 1000;
const serverOptions = createGrpcServerTransport({
  tls: undefined,
  allowedClients: [],
  maxConnectionAgeMs,
  maxConnectionAgeGraceMs: 200,
  healthPort: undefined,
}).serverOptions;

async function startInstance(name: string, hits: Map<string, number>): Promise<TestServer> {
  const server = await startCatalogServer(
    {
      getItem: async (request) => {
        hits.set(name, (hits.get(name) ?? 0) + 1);
        return { item: item(request.id) };
      },
    },
    { serverOptions },
  );
  servers.push(server);
  return server;
}

test("calls spread over every instance, and reach one added behind the same name within the connection age", async () => {
  const hits = new Map<string, number>();
  const first = await startInstance("first", hits);
  const second = await startInstance("second", hits);
  registered.set("catalog", [first.port, second.port]);
  const { client } = createClient(CatalogServiceClient, {
    upstream: "catalog",
    target: `${scheme}:catalog`,
    logger: captureLog().logger,
  });
  closers.push(() => client.close());

  for (let call = 0; call < 20; call++) await callUnary(client, "getItem", { id: String(call) });
  assert.ok((hits.get("first") ?? 0) >= 5 && (hits.get("second") ?? 0) >= 5, `round robin over both: ${JSON.stringify([...hits])}`);

  const third = await startInstance("third", hits);
  registered.set("catalog", [first.port, second.port, third.port]);
  const resolutionsBefore = resolutions;
  const added = Date.now();
  // Keep calling, as live traffic does, until the new instance takes a call.
  while ((hits.get("third") ?? 0) === 0) {
    assert.ok(
      Date.now() - added < maxConnectionAgeMs * 4,
      `the third instance got no call within ${maxConnectionAgeMs * 4} ms (connection age ${maxConnectionAgeMs} ms); resolutions since: ${resolutions - resolutionsBefore}`,
    );
    await callUnary(client, "getItem", { id: "next" });
  }
  assert.ok(resolutions > resolutionsBefore, "the channel asked for the instances again after its connections aged out");
});
