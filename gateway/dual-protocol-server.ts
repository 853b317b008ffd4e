// One cleartext port that speaks HTTP/1.1 and HTTP/2 (prior knowledge, h2c).
// Node's http2.createServer serves HTTP/1.1 only over TLS (allowHTTP1 needs
// ALPN), so each new connection is sniffed: the HTTP/2 client preface goes to
// an HTTP/2 server, anything else to the HTTP/1.1 server. Both hand requests to
// the same fastify handler, which supports either kind of request object.

import type { IncomingMessage, ServerResponse } from "node:http";
import { Server as Http1Server } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from "node:http2";
import { createServer as createHttp2Server } from "node:http2";
import type { Socket } from "node:net";

// fastify's handler; it also serves HTTP/2 compatibility request objects.
type Handler = (request: IncomingMessage, response: ServerResponse) => void;
type Http2Handler = (request: Http2ServerRequest, response: Http2ServerResponse) => void;

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface DualProtocolOptions {
  keepAliveTimeoutMs: number;
  /** Idle HTTP/2 sessions are closed after this long. */
  http2SessionTimeoutMs: number;
  /** A connection that sends nothing for this long is closed. */
  firstBytesTimeoutMs: number;
}

/**
 * An http.Server (so fastify can drive it as its own) whose connections are
 * routed to HTTP/1.1 or HTTP/2 by their first bytes.
 */
export class DualProtocolServer extends Http1Server {
  readonly #http2 = createHttp2Server();
  readonly #sessions = new Set<Http2Session>();
  // Connected sockets that have not yet said which protocol they speak.
  readonly #undecided = new Set<Socket>();
  readonly #firstBytesTimeoutMs: number;

  constructor(handler: Handler, options: DualProtocolOptions) {
    super(handler);
    this.keepAliveTimeout = options.keepAliveTimeoutMs;
    this.#firstBytesTimeoutMs = options.firstBytesTimeoutMs;
    this.#http2.on("request", handler as unknown as Http2Handler);
    this.#http2.on("session", (session) => {
      this.#sessions.add(session);
      session.setTimeout(options.http2SessionTimeoutMs, () => session.close());
      session.once("close", () => this.#sessions.delete(session));
    });
    const http1Listeners = this.listeners("connection") as Array<(socket: Socket) => void>;
    this.removeAllListeners("connection");
    this.on("connection", (socket: Socket) => this.#route(socket, http1Listeners));
  }

  #route(socket: Socket, http1Listeners: Array<(socket: Socket) => void>): void {
    let seen: Buffer = Buffer.alloc(0);
    this.#undecided.add(socket);
    socket.once("close", () => this.#undecided.delete(socket));
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const compared = Math.min(seen.length, http2Preface.length);
      const isHttp2 = seen.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      if (isHttp2 && compared < http2Preface.length) return; // need more bytes to decide
      socket.removeListener("data", onData);
      socket.removeListener("error", onEarlyError);
      socket.removeListener("end", onEarlyError);
      clearTimeout(silenceTimer);
      this.#undecided.delete(socket);
      socket.pause();
      socket.unshift(seen);
      if (isHttp2) this.#http2.emit("connection", socket);
      else for (const listener of http1Listeners) listener.call(this, socket);
      process.nextTick(() => socket.resume());
    };
    // Until a protocol server owns the socket, errors, an early end (http.Server
    // sockets are half-open, so nothing else would close it) and silence are ours.
    const onEarlyError = () => {
      clearTimeout(silenceTimer);
      socket.destroy();
    };
    const silenceTimer = setTimeout(onEarlyError, this.#firstBytesTimeoutMs);
    silenceTimer.unref();
    socket.on("error", onEarlyError);
    socket.on("end", onEarlyError);
    socket.on("data", onData);
  }

  /** fastify calls this on close so open HTTP/2 sessions end with GOAWAY. */
  closeHttp2Sessions(): void {
    for (const session of this.#sessions) session.close();
  }

  override closeIdleConnections(): void {
    super.closeIdleConnections();
    for (const socket of this.#undecided) socket.destroy();
  }

  override closeAllConnections(): void {
    super.closeAllConnections();
    for (const socket of this.#undecided) socket.destroy();
    for (const session of this.#sessions) session.destroy();
  }
}
