// Shutdown steps and stopAfterDrain against a real gRPC server on loopback:
// steps run last-added first, once, past a failing one; stop() lets an
// in-flight call finish before any step runs, however often it is called.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { credentials } from "@grpc/grpc-js";
import { CatalogServiceClient } from "../../gen/mel/catalog/v1/catalog.js";
import { awaitedLater, deferred, settle } from "../../test/support/wait.js";
import { captureLog, item, startCatalogServer } from "../grpc/grpc.test-support.js";
import { callUnary } from "../grpc/index.js";
import { createShutdownSteps, stopAfterDrain } from "./shutdown.js";

describe("shutdown steps", () => {
  it("run last-added first, once, and a failing step is logged and passed over", async () => {
    const log = captureLog("shop");
    const shutdown = createShutdownSteps("shop", log.logger);
    const ran: string[] = [];
    shutdown.add(() => ran.push("database"));
    shutdown.add(() => {
      throw new Error("broker already gone");
    });
    shutdown.closing({ close: async () => ran.push("client") });
    await Promise.all([shutdown.run(), shutdown.run()]);
    await shutdown.run();
    assert.deepEqual(ran, ["client", "database"]);
    const failures = log.lines.filter((line) => line.msg === "shop shutdown step failed");
    assert.equal(failures.length, 1);
    assert.match(JSON.stringify(failures[0]), /broker already gone/);
  });

  it("closing() hands back the resource it will close", () => {
    const shutdown = createShutdownSteps("shop", captureLog().logger);
    const resource = { close: () => undefined, name: "jwks" };
    assert.equal(shutdown.closing(resource), resource);
  });
});

describe("stopAfterDrain", () => {
  it("lets an in-flight call finish before the steps run, and stops once however often called", async () => {
    const events: string[] = [];
    const reached = deferred();
    const release = deferred();
    const server = await startCatalogServer({
      getItem: async () => {
        reached.resolve();
        await release.promise;
        events.push("call answered");
        return { item: item("mel") };
      },
    });
    const client = new CatalogServiceClient(server.address, credentials.createInsecure());
    try {
      const shutdown = createShutdownSteps("catalog", captureLog().logger);
      shutdown.add(() => events.push("step ran"));
      const drainStarted = deferred();
      const drained = {
        drain(graceMs: number) {
          drainStarted.resolve();
          return server.grpc.drain(graceMs);
        },
      };
      const stop = stopAfterDrain(drained, 5000, shutdown);
      const call = awaitedLater(callUnary(client, "getItem", { id: "mel" }));
      await reached.promise;
      const stopping = awaitedLater(Promise.all([stop(), stop()]));
      await drainStarted.promise;
      await settle();
      assert.deepEqual(events, [], "no step runs while the call is still in its handler");
      release.resolve();
      await stopping;
      await stop();
      assert.equal((await call).item?.id, "mel");
      assert.deepEqual(events, ["call answered", "step ran"]);
    } finally {
      release.resolve();
      client.close();
    }
  });
});
