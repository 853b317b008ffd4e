// gRPC-Web through the gateway with independent stock clients: connect-web
// (binary, over fetch), connect-node (binary, over HTTP/2) and Google's
// grpc-web (text and binary, over XMLHttpRequest), against real gRPC servers.
import assert from "node:assert/strict";
import { connect as connectNodeHttp2 } from "node:http2";
import { after, before, describe, it } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport as createNodeGrpcWebTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { waitUntil } from "../test/support/wait.js";
import { encodeMessageFrame } from "./grpc-web-framing.js";
import { googleServerStream, googleUnary } from "./testing/google-grpc-web.js";
import type { TestStack } from "./testing/test-stack.js";
import { startTestStack, testOrigin } from "./testing/test-stack.js";

let stack: TestStack;
let catalogService: DescService;
let orderingService: DescService;
let identityService: DescService;
before(async () => {
  stack = await startTestStack();
  const registry = createFileRegistry(stack.descriptorSet);
  catalogService = registry.getService("mel.catalog.v1.CatalogService")!;
  orderingService = registry.getService("mel.ordering.v1.OrderingService")!;
  identityService = registry.getService("mel.identity.v1.IdentityService")!;
});
after(async () => {
  await stack.close();
});

// Clients built from runtime descriptors are untyped; the tests read fields by name.
type AnyClient = Record<string, (...args: any[]) => any>;
const connectWeb = (service: DescService) => createClient(service, createGrpcWebTransport({ baseUrl: stack.url })) as unknown as AnyClient;
const connectHttp2 = (service: DescService) =>
  createClient(service, createNodeGrpcWebTransport({ baseUrl: stack.url, httpVersion: "2" })) as unknown as AnyClient;

async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error: unknown) {
    return ConnectError.from(error);
  }
  assert.fail("the call should have failed");
}

describe("connect-web (application/grpc-web+proto over fetch, HTTP/1.1)", () => {
  it("makes unary calls, with response headers and trailers", async () => {
    let servedBy: string | null = null;
    const response = await connectWeb(catalogService).getItem({ id: "item-1" }, { onHeader: (headers: Headers) => (servedBy = headers.get("x-served-by")) });
    assert.equal(response.item.name, "Item item-1");
    assert.equal(response.item.price.amountMinor, 1234n);
    assert.equal(servedBy, "catalog-fixture");
  });

  it("reports upstream errors with code, message and metadata", async () => {
    const error = await connectError(connectWeb(catalogService).getItem({ id: "status-PERMISSION_DENIED" }));
    assert.equal(error.code, Code.PermissionDenied);
    assert.equal(error.rawMessage, "forced PERMISSION_DENIED");
    assert.equal(error.metadata.get("x-failure"), "forced");
  });

  it("streams server messages and the trailers at the end", async () => {
    let trailer: string | null = null;
    const statuses: number[] = [];
    for await (const message of connectWeb(orderingService).watchOrder(
      { id: "o-1" },
      { onTrailer: (trailers: Headers) => (trailer = trailers.get("x-watch")) },
    )) {
      statuses.push(message.order.status);
    }
    assert.deepEqual(statuses, [1, 4, 5]);
    assert.equal(trailer, "done");
  });

  it("delivers the messages before a mid-stream error", async () => {
    const statuses: number[] = [];
    const error = await connectError(
      (async () => {
        for await (const message of connectWeb(orderingService).watchOrder({ id: "fail-midway" })) statuses.push(message.order.status);
      })(),
    );
    assert.deepEqual(statuses, [1]);
    assert.equal(error.code, Code.Aborted);
  });

  it("ends an empty stream cleanly with its trailers", async () => {
    let trailer: string | null = null;
    const received: unknown[] = [];
    for await (const message of connectWeb(orderingService).watchOrder(
      { id: "empty" },
      { onTrailer: (trailers: Headers) => (trailer = trailers.get("x-watch")) },
    ))
      received.push(message);
    assert.deepEqual(received, []);
    assert.equal(trailer, "none");
  });

  it("cancels the upstream stream when the browser aborts the call", async () => {
    const aborter = new AbortController();
    const received: number[] = [];
    const error = await connectError(
      (async () => {
        for await (const message of connectWeb(orderingService).watchOrder({ id: "hold-grpc-web" }, { signal: aborter.signal })) {
          received.push(message.order.status);
          aborter.abort();
        }
      })(),
    );
    assert.equal(error.code, Code.Canceled);
    assert.deepEqual(received, [1]);
    await waitUntil("the upstream to see the cancellation", () => stack.upstreams.cancelledStreams.includes("hold-grpc-web"));
  });

  it("answers DEADLINE_EXCEEDED when the upstream outlives the client's timeout", async () => {
    const error = await connectError(connectWeb(catalogService).getItem({ id: "slow" }, { timeoutMs: 150 }));
    assert.equal(error.code, Code.DeadlineExceeded);
  });

  it("carries the client's timeout to the upstream as its deadline", async () => {
    const before = Date.now();
    await connectWeb(catalogService).getItem({ id: "item-1" }, { timeoutMs: 3000 });
    const after = Date.now();
    const deadline = Number(stack.upstreams.lastCall("/mel.catalog.v1.CatalogService/GetItem")!.deadline);
    // Sent as a relative time: 3 s from when the call left, plus at most its time on the wire (after - before).
    assert.ok(
      deadline >= before + 3000 - 5 && deadline <= after + 3000 + (after - before),
      `deadline ${deadline - before} ms after the call began (call took ${after - before} ms)`,
    );
  });
});

describe("connect-node (application/grpc-web+proto over HTTP/2 cleartext)", () => {
  it("makes unary calls", async () => {
    const response = await connectHttp2(identityService).login({ email: "ana@example.com", password: "correct horse" });
    assert.equal(response.tokenType, "Bearer");
  });

  it("streams server messages", async () => {
    const statuses: number[] = [];
    for await (const message of connectHttp2(orderingService).watchOrder({ id: "o-2" })) statuses.push(message.order.status);
    assert.deepEqual(statuses, [1, 4, 5]);
  });

  it("reports errors", async () => {
    const error = await connectError(connectHttp2(catalogService).getItem({ id: "missing" }));
    assert.equal(error.code, Code.NotFound);
    assert.match(error.rawMessage, /item missing does not exist/);
  });
});

describe("Google grpc-web (XMLHttpRequest)", () => {
  for (const format of ["text", "binary"] as const) {
    it(`makes unary calls in ${format} mode and forwards metadata`, async () => {
      const response = (await googleUnary(stack.url, format, identityService.method.me!, {}, { authorization: "Bearer t-1" })) as any;
      assert.equal(response.user.email, "ana@example.com");
      assert.equal(stack.upstreams.lastCall("/mel.identity.v1.IdentityService/Me")!.metadata.get("authorization")[0], "Bearer t-1");
    });

    it(`reports errors in ${format} mode`, async () => {
      await assert.rejects(
        googleUnary(stack.url, format, catalogService.method.getItem!, { id: "status-ALREADY_EXISTS" }),
        (error: { code: number; message: string }) => {
          assert.equal(error.code, 6);
          assert.equal(error.message, "forced ALREADY_EXISTS");
          return true;
        },
      );
    });
  }

  it("streams server messages in text mode, with the trailers as the final status", async () => {
    const result = await googleServerStream(stack.url, orderingService.method.watchOrder!, { id: "o-3" });
    assert.equal(result.error, undefined);
    assert.deepEqual(
      result.messages.map((message: any) => message.order.status),
      [1, 4, 5],
    );
    assert.equal(result.status?.code, 0);
    assert.equal(result.status?.metadata?.["x-watch"], "done");
  });

  it("reports a stream that fails before its first message", async () => {
    const result = await googleServerStream(stack.url, orderingService.method.watchOrder!, { id: "status-UNAUTHENTICATED" });
    assert.deepEqual(result.messages, []);
    assert.equal(result.error?.code, 16);
  });
});

const frame = (bytes: number[]) => encodeMessageFrame(Buffer.from(bytes));
// GetItemRequest { id: "item-1" }: field 1, length 6.
const getItem1 = frame([0x0a, 6, ...Buffer.from("item-1")]);

/** Reads a unary gRPC-Web response body: the message frame's payload and the trailer block. */
function unaryFrames(body: Buffer): { message: Buffer; trailer: string } {
  assert.equal(body[0], 0, "a message frame first");
  const trailerAt = 5 + body.readUInt32BE(1);
  assert.equal(body[trailerAt], 0x80, "the trailer frame last");
  return { message: body.subarray(5, trailerAt), trailer: body.subarray(trailerAt + 5).toString("latin1") };
}

describe("gRPC-Web on the wire", () => {
  it("passes the request message to the upstream byte for byte, never decoding it", async () => {
    // EchoRequest with fields out of order, an over-long varint and an unknown field:
    // big (4) = 5 as a 3-byte varint, then id (1) = "p1", then field 99 = 7.
    const payload = Buffer.from([0x20, 0x85, 0x80, 0x00, 0x0a, 2, ...Buffer.from("p1"), 0x98, 0x06, 7]);
    const echoRequest = createFileRegistry(stack.descriptorSet).getMessage("mel.probe.v1.EchoRequest")!;
    assert.notDeepEqual(Buffer.from(toBinary(echoRequest, fromBinary(echoRequest, payload))), payload, "decoding and re-encoding would change these bytes");
    const received = stack.upstreams.probeRequestBytes.length;
    const response = await fetch(`${stack.url}/mel.probe.v1.ProbeService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: encodeMessageFrame(payload),
    });
    const { trailer } = unaryFrames(Buffer.from(await response.arrayBuffer()));
    assert.match(trailer, /^grpc-status: 0\r\n/);
    assert.equal(stack.upstreams.probeRequestBytes.length, received + 1);
    assert.deepEqual(stack.upstreams.probeRequestBytes.at(-1), payload);
  });

  it("accepts application/grpc-web without a codec suffix and answers +proto", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web" },
      body: getItem1,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/grpc-web+proto");
    const { message, trailer } = unaryFrames(Buffer.from(await response.arrayBuffer()));
    assert.ok(message.includes(Buffer.from("Item item-1")));
    assert.match(trailer, /^grpc-status: 0\r\n/);
  });

  it("serves grpc-web-text over HTTP/2 (h2c) as well", async () => {
    const session = connectNodeHttp2(stack.url);
    try {
      const { headers, text } = await new Promise<{ headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        const request = session.request({ ":method": "POST", ":path": "/mel.catalog.v1.CatalogService/GetItem", "content-type": "application/grpc-web-text" });
        let headers: Record<string, unknown> = {};
        let text = "";
        request.on("response", (received) => (headers = received));
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => (text += chunk));
        request.on("end", () => resolve({ headers, text }));
        request.on("error", reject);
        request.end(getItem1.toString("base64"));
      });
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "application/grpc-web-text+proto");
      const { message, trailer } = unaryFrames(Buffer.from(text, "base64"));
      assert.ok(message.includes(Buffer.from("Item item-1")));
      assert.match(trailer, /^grpc-status: 0\r\n/);
    } finally {
      session.close();
    }
  });

  it("answers a failure before any message as trailers-only: status in the headers, empty body", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: frame([0x0a, 7, ...Buffer.from("missing")]),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("grpc-status"), "5");
    assert.equal(response.headers.get("grpc-message"), "item missing does not exist");
    assert.equal((await response.arrayBuffer()).byteLength, 0);
  });

  it("answers grpc-web-text in base64 with the trailer frame last", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text" },
      body: getItem1.toString("base64"),
    });
    assert.equal(response.headers.get("content-type"), "application/grpc-web-text+proto");
    const body = Buffer.from(await response.text(), "base64");
    assert.equal(body[0], 0);
    const trailerAt = 5 + body.readUInt32BE(1);
    assert.equal(body[trailerAt], 0x80);
    assert.match(body.subarray(trailerAt + 5).toString("latin1"), /^grpc-status: 0\r\n/);
  });

  it("answers an unknown method with UNIMPLEMENTED", async () => {
    const response = await fetch(`${stack.url}/mel.nothing.v1.NoService/Nothing`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: getItem1,
    });
    assert.equal(response.headers.get("grpc-status"), String(Code.Unimplemented));
  });

  it("refuses the JSON codec, which cannot pass through undecoded", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json" },
      body: "{}",
    });
    assert.equal(response.headers.get("grpc-status"), String(Code.Unimplemented));
  });
});

describe("CORS for browsers", () => {
  it("answers the preflight of an allowed origin with the gRPC-Web request headers", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "OPTIONS",
      headers: {
        origin: testOrigin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization",
      },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), testOrigin);
    const allowed = response.headers.get("access-control-allow-headers")!.split(/,\s*/);
    for (const header of ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"])
      assert.ok(allowed.includes(header), `${header} allowed`);
  });

  it("exposes grpc-status and grpc-message on actual responses", async () => {
    const response = await fetch(`${stack.url}/mel.catalog.v1.CatalogService/GetItem`, {
      method: "POST",
      headers: { origin: testOrigin, "content-type": "application/grpc-web+proto" },
      body: frame([0x0a, 7, ...Buffer.from("missing")]),
    });
    assert.equal(response.headers.get("access-control-allow-origin"), testOrigin);
    const exposed = response.headers.get("access-control-expose-headers")!.split(/,\s*/);
    assert.ok(exposed.includes("grpc-status") && exposed.includes("grpc-message"));
  });

  it("does not allow an origin outside the allow-list", async () => {
    const response = await fetch(`${stack.url}/api/v1/catalog/items`, { headers: { origin: "http://evil.example" } });
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  });
});
