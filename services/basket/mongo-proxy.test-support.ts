// A loopback TCP proxy in front of the MongoDB-protocol test server, so a test
// can take the store away from a running basket and give it back, as a
// network outage would, without stopping the server the rest of the test
// process shares. Hand-written: a few lines of node:net, and the test must
// control every connection (stall them, drop them, refuse new ones).
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface MongoProxy {
  /** The database's URL through the proxy (a direct connection, so the driver never goes around it). */
  url: string;
  /**
   * Forwards nothing more either way while connections stay open, so requests
   * go unanswered until cut(). Resolves once a request was held back: one is in flight.
   */
  stall(): Promise<void>;
  /** Drops every open connection and refuses new ones: the store is unreachable. */
  cut(): Promise<void>;
  /** Accepts and forwards connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** mongodb://[user:pass@]host[:port][,more hosts]/db?options, split into what the proxy needs. */
function parseMongoUrl(url: string) {
  const match = /^mongodb:\/\/([^@/]*@)?([^/,?]+)[^/?]*(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) throw new Error(`the basket's store-outage tests need a mongodb:// URL they can proxy, not ${url.replace(/:[^:@/]*@/, ":***@")}`);
  const [host, port] = (match[2] as string).split(":");
  return { credentials: match[1] ?? "", host: host as string, port: Number(port ?? 27017), path: match[3] ?? "/", query: match[4] };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.removeListener("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

export async function startMongoProxy(databaseUrl: string): Promise<MongoProxy> {
  const target = parseMongoUrl(databaseUrl);
  const sockets = new Set<Socket>();
  let stalled = false;
  let accepting = true;
  let heldBack: (() => void) | undefined;

  const forward = (from: Socket, to: Socket, carries: "requests" | "replies") => {
    from.on("data", (chunk) => {
      if (!stalled) to.write(chunk);
      else if (carries === "requests") heldBack?.();
    });
    from.on("close", () => to.destroy());
    from.on("error", () => to.destroy());
  };

  const server = createServer((client) => {
    // A connection accepted while cut() was closing the listener would outlive the outage.
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    }
    forward(client, upstream, "requests");
    forward(upstream, client, "replies");
  });
  const port = await listen(server, 0);

  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

  return {
    url: `mongodb://${target.credentials}127.0.0.1:${port}${target.path}${target.query ? `${target.query}&` : "?"}directConnection=true`,
    stall() {
      stalled = true;
      return new Promise((resolve) => {
        heldBack = () => {
          heldBack = undefined;
          resolve();
        };
      });
    },
    async cut() {
      accepting = false;
      const closed = stopListening();
      dropAll();
      await closed;
      stalled = false;
    },
    async restore() {
      accepting = true;
      await listen(server, port);
    },
    async close() {
      accepting = false;
      const closed = stopListening();
      dropAll();
      await closed;
    },
  };
}
