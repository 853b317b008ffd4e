// The process wrapper through real entry points run by node as a container
// would run them: the gateway's main.ts (no database or broker needed) and
// catalog's (SQLite in a temp folder, the real RabbitMQ on names of its own).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { credentials } from "@grpc/grpc-js";
import { CatalogServiceClient, ListItemsRequest, type ListItemsResponse } from "../../gen/mel/catalog/v1/catalog.js";
import { BrokerProbe, ensureRabbitMq, uniqueName } from "../../test/support/rabbitmq.js";
import { waitUntil } from "../../test/support/wait.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface Run {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  signal(name: NodeJS.Signals): void;
  /** Waits until `condition` holds, failing if the child exits first. */
  until(what: string, condition: () => boolean): Promise<void>;
}

// Children still running when a test ends (it failed before stopping them)
// are killed, or their open pipes would keep this file from ever finishing.
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill("SIGKILL");
});

function run(entry: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, entry)], {
    cwd: root,
    env: { ...process.env, MEL_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  children.add(child);
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => {
      exited = true;
      children.delete(child);
      done({ code, signal });
    }),
  );
  return {
    exit,
    output: () => output,
    signal: (name) => child.kill(name),
    until(what, condition) {
      // Its port is its own choice (0), so the line it prints once it is up is
      // the only sign. Starting takes tsx a long while on a busy machine; a
      // child that exits instead fails at once, with what it printed.
      return waitUntil(
        what,
        () => {
          if (exited) throw new Error(`${entry} exited before ${what}:\n${output}`);
          return condition();
        },
        180_000,
        50,
      );
    },
  };
}

describe("runAsMain", () => {
  it("exits 2 naming the bad variable when the configuration is wrong", async () => {
    const gateway = run("gateway/main.ts", { MEL_GATEWAY_PORT: "eighty" });
    const { code } = await gateway.exit;
    assert.equal(code, 2, gateway.output());
    assert.match(gateway.output(), /^gateway: invalid configuration:\n\s+MEL_GATEWAY_PORT: expected an integer port 0\.\.65535, got "eighty"/);
  });

  it("starts, then on SIGTERM stops once and exits 0", async () => {
    const gateway = run("gateway/main.ts", { MEL_GATEWAY_PORT: "0", MEL_GATEWAY_HOST: "127.0.0.1" });
    await gateway.until("the gateway to listen", () => gateway.output().includes("gateway listening"));
    gateway.signal("SIGTERM");
    const { code } = await gateway.exit;
    assert.equal(code, 0, gateway.output());
    assert.equal(gateway.output().match(/"msg":"gateway stopping"/g)?.length, 1, gateway.output());
  });

  it("exits 1 with the reason when the service cannot start", async () => {
    // A second gateway on the first one's port cannot bind it.
    const blocker = run("gateway/main.ts", { MEL_GATEWAY_PORT: "0", MEL_GATEWAY_HOST: "127.0.0.1" });
    await blocker.until("the first gateway to listen", () => blocker.output().includes("gateway listening"));
    const url = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(blocker.output());
    assert.ok(url, blocker.output());
    const second = run("gateway/main.ts", { MEL_GATEWAY_PORT: url[1]!, MEL_GATEWAY_HOST: "127.0.0.1" });
    const { code } = await second.exit;
    blocker.signal("SIGTERM");
    await blocker.exit;
    assert.equal(code, 1, second.output());
    assert.match(second.output(), /"level":"fatal".*"msg":"gateway failed to start"/);
    assert.match(second.output(), /EADDRINUSE/);
  });

  it("runs a service that, on SIGTERM, drains its gRPC server, finishes its clean-up and exits 0", async () => {
    await ensureRabbitMq();
    const prefix = uniqueName("run-as-main");
    const dataDir = mkdtempSync(join(tmpdir(), "mel-run-as-main-"));
    try {
      const catalog = run("services/catalog/main.ts", {
        MEL_CATALOG_HOST: "127.0.0.1",
        MEL_CATALOG_PORT: "0",
        MEL_CATALOG_DATABASE_URL: `sqlite:${join(dataDir, "catalog.db")}`,
        MEL_EVENTS_EXCHANGE: `${prefix}.events`,
        MEL_CATALOG_QUEUE: `${prefix}.catalog`,
      });
      await catalog.until("catalog to listen", () => /"msg":"catalog listening"/.test(catalog.output()));
      const address = /"address":"(127\.0\.0\.1:\d+)"/.exec(catalog.output());
      assert.ok(address, catalog.output());
      const client = new CatalogServiceClient(address[1]!, credentials.createInsecure());
      const listed = await new Promise<ListItemsResponse>((done, fail) =>
        client.listItems(ListItemsRequest.fromPartial({ pageSize: 3 }), (error, response) => (error ? fail(error) : done(response))),
      );
      client.close();
      assert.equal(listed.items.length, 3, "the demo catalogue is served");

      catalog.signal("SIGTERM");
      const { code } = await catalog.exit;
      assert.equal(code, 0, catalog.output());
      const messages = [...catalog.output().matchAll(/"msg":"([^"]+)"/g)].map((match) => match[1]);
      const stopping = messages.indexOf("catalog stopping");
      assert.ok(stopping >= 0, catalog.output());
      assert.deepEqual(
        messages.slice(stopping).filter((message) => ["catalog draining", "catalog stopped"].includes(message!)),
        ["catalog draining", "catalog stopped"],
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    }
  });
});
