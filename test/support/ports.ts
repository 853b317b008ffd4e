// Loopback ports for tests that start processes of their own (FerretDB, an
// ordering process killed mid-flow): find a free one, and tell when a process
// has started listening on it.
import { createConnection, createServer } from "node:net";

/** A port free on 127.0.0.1 a moment ago (another process may take it before the caller binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Whether something on 127.0.0.1:`port` accepts a TCP connection now. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((answer) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      answer(true);
    });
    socket.once("error", () => answer(false));
  });
}
