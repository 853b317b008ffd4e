// What reaches the upstream from an HTTP request: the token, a correlation id,
// trace context and a deadline, and nothing else.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseGrpcTimeout } from "./call-context.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack } from "./testing/test-stack.js";

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ defaultTimeoutMs: 5000, maxTimeoutMs: 8000, minTimeoutMs: 1000 });
});
after(async () => {
  await stack.close();
});

const getItemPath = "/mel.catalog.v1.CatalogService/GetItem";

async function getItem(headers: Record<string, string>): Promise<Response> {
  const response = await fetch(`${stack.url}/api/v1/catalog/items/item-1`, { headers });
  assert.equal(response.status, 200);
  await response.arrayBuffer();
  return response;
}

describe("metadata sent upstream", () => {
  it("carries authorization, traceparent and tracestate on", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await getItem({ authorization: "Bearer abc", traceparent, tracestate: "mel=1" });
    const metadata = stack.upstreams.lastCall(getItemPath)!.metadata;
    assert.deepEqual(metadata.get("authorization"), ["Bearer abc"]);
    assert.deepEqual(metadata.get("traceparent"), [traceparent]);
    assert.deepEqual(metadata.get("tracestate"), ["mel=1"]);
  });

  it("keeps the client's correlation id and echoes it", async () => {
    const response = await getItem({ "x-correlation-id": "checkout-42" });
    assert.deepEqual(stack.upstreams.lastCall(getItemPath)!.metadata.get("x-correlation-id"), ["checkout-42"]);
    assert.equal(response.headers.get("x-correlation-id"), "checkout-42");
  });

  it("makes a correlation id when the client sent none, or one unsafe to log", async () => {
    for (const headers of [{}, { "x-correlation-id": "bad id\twith tab" }] as Array<Record<string, string>>) {
      const response = await getItem(headers);
      const sent = stack.upstreams.lastCall(getItemPath)!.metadata.get("x-correlation-id")[0] as string;
      assert.match(sent, /^[0-9a-f-]{36}$/);
      assert.equal(response.headers.get("x-correlation-id"), sent);
    }
  });

  it("does not forward other headers (cookies, hosts, client hints)", async () => {
    await getItem({ cookie: "session=1", "x-forwarded-for": "10.0.0.1", "x-api-key": "k" });
    const sent = Object.keys(stack.upstreams.lastCall(getItemPath)!.metadata.getMap());
    for (const name of ["cookie", "x-forwarded-for", "x-api-key", "host"]) assert.ok(!sent.includes(name), `${name} is not forwarded`);
  });
});

describe("deadlines", () => {
  /**
   * Asserts the upstream got a deadline `budgetMs` after the gateway received
   * the call. The gateway took the call between `before` and `after`, and
   * grpc-timeout travels as a relative time, so the upstream's deadline lies
   * between before + budget and after + budget + the time on the wire (at
   * most after - before): exact bounds however slow the machine is.
   */
  const assertDeadline = async (headers: Record<string, string>, budgetMs: number) => {
    const before = Date.now();
    await getItem(headers);
    const after = Date.now();
    const deadline = Number(stack.upstreams.lastCall(getItemPath)!.deadline);
    // grpc-timeout carries whole milliseconds: allow their rounding.
    const earliest = before + budgetMs - 5;
    const latest = after + budgetMs + (after - before);
    assert.ok(
      deadline >= earliest && deadline <= latest,
      `deadline ${deadline - before} ms after the call began, expected ${budgetMs} ms (call took ${after - before} ms)`,
    );
  };

  it("default to the configured timeout", async () => {
    await assertDeadline({}, 5000);
  });

  it("follow the client's grpc-timeout", async () => {
    await assertDeadline({ "grpc-timeout": "2S" }, 2000);
  });

  it("cap the client's grpc-timeout", async () => {
    await assertDeadline({ "grpc-timeout": "10M" }, 8000);
  });

  it("raise a tiny grpc-timeout to the floor, so clients cannot trip the upstream's breaker", async () => {
    await assertDeadline({ "grpc-timeout": "1m" }, 1000);
  });

  it("parse every grpc-timeout unit", () => {
    assert.equal(parseGrpcTimeout("1H"), 3_600_000);
    assert.equal(parseGrpcTimeout("2M"), 120_000);
    assert.equal(parseGrpcTimeout("3S"), 3000);
    assert.equal(parseGrpcTimeout("250m"), 250);
    assert.equal(parseGrpcTimeout("1500u"), 2);
    assert.equal(parseGrpcTimeout("5n"), 1);
    assert.throws(() => parseGrpcTimeout("123456789S"), /grpc-timeout/);
    assert.throws(() => parseGrpcTimeout("10"), /grpc-timeout/);
  });
});
