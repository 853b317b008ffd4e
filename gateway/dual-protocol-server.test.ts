import assert from "node:assert/strict";
import { connect as connectHttp2 } from "node:http2";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { DualProtocolServer } from "./dual-protocol-server.js";

let server: DualProtocolServer;
let origin: string;
before(async () => {
  server = new DualProtocolServer((request, response) => response.end(`HTTP/${request.httpVersion} ${request.url}`), {
    keepAliveTimeoutMs: 5000,
    http2SessionTimeoutMs: 5000,
    firstBytesTimeoutMs: 100,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function closed(socketFactory: () => ReturnType<typeof connect>): Promise<void> {
  return new Promise((resolve) => {
    const socket = socketFactory();
    socket.on("data", () => {});
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
  });
}

describe("one port, HTTP/1.1 and HTTP/2", () => {
  it("serves HTTP/1.1 requests, several on one connection", async () => {
    for (const path of ["/a", "/b"]) assert.equal(await (await fetch(origin + path)).text(), `HTTP/1.1 ${path}`);
  });

  it("serves HTTP/2 with prior knowledge", async () => {
    const session = connectHttp2(origin);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const request = session.request({ ":path": "/h2" });
        let text = "";
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => (text += chunk));
        request.on("end", () => resolve(text));
        request.on("error", reject);
      });
      assert.equal(body, "HTTP/2.0 /h2");
    } finally {
      session.close();
    }
  });

  it("closes a connection that sends nothing", { timeout: 5000 }, async () => {
    const { port } = new URL(origin);
    await closed(() => connect({ host: "127.0.0.1", port: Number(port) }));
  });

  it("closes a connection that ends inside the HTTP/2 preface", { timeout: 5000 }, async () => {
    const { port } = new URL(origin);
    await closed(() =>
      connect({ host: "127.0.0.1", port: Number(port) }, function (this: ReturnType<typeof connect>) {
        this.end("PRI * HTTP/2.0\r\n");
      }),
    );
  });
});
