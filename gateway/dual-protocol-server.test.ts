import assert from "node:assert/strict";
import { Agent, get as httpGet } from "node:http";
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

/** What the server did with a raw connection: the bytes it answered with, and whether it ended the connection. */
function outcome(socketFactory: () => ReturnType<typeof connect>): Promise<{ answered: string; endedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = socketFactory();
    let answered = "";
    let endedByServer = false;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answered += chunk));
    socket.on("end", () => (endedByServer = true));
    socket.on("error", reject);
    socket.on("close", () => resolve({ answered, endedByServer }));
  });
}

describe("one port, HTTP/1.1 and HTTP/2", () => {
  it("serves HTTP/1.1 requests, several on one connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers: Array<{ body: string; reusedSocket: boolean }> = [];
      for (const path of ["/a", "/b"]) {
        answers.push(
          await new Promise((resolve, reject) => {
            const request = httpGet(origin + path, { agent }, (response) => {
              let body = "";
              response.setEncoding("utf8");
              response.on("data", (chunk: string) => (body += chunk));
              response.on("end", () => resolve({ body, reusedSocket: request.reusedSocket }));
              response.on("error", reject);
            });
            request.on("error", reject);
          }),
        );
      }
      assert.deepEqual(answers, [
        { body: "HTTP/1.1 /a", reusedSocket: false },
        { body: "HTTP/1.1 /b", reusedSocket: true },
      ]);
    } finally {
      agent.destroy();
    }
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
    assert.deepEqual(await outcome(() => connect({ host: "127.0.0.1", port: Number(port) })), { answered: "", endedByServer: true });
  });

  it("closes a connection that ends inside the HTTP/2 preface", { timeout: 5000 }, async () => {
    const { port } = new URL(origin);
    // Not handed to HTTP/1.1 (which would answer 400) nor left open: closed without a word.
    const result = await outcome(() =>
      connect({ host: "127.0.0.1", port: Number(port) }, function (this: ReturnType<typeof connect>) {
        this.end("PRI * HTTP/2.0\r\n");
      }),
    );
    assert.deepEqual(result, { answered: "", endedByServer: true });
  });
});
