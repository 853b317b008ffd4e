import mongoose, { type Connection } from "mongoose";
import type { Logger } from "../log/index.js";

export interface MongoConnectionOptions {
  /** How long connecting, and then each operation, waits for an unreachable server before failing. */
  timeoutMs: number;
  logger: Logger;
  /** What the store holds, for the outage log lines ("the order read model"). */
  purpose: string;
}

export interface MongoConnection {
  connection: Connection;
  /** Closes the connection; the outage logging stops first (our own close is not an outage). */
  close(): Promise<void>;
}

/**
 * Opens one connection to `url` and resolves once the server answered. Indexes
 * are not made behind the first query's back (autoIndex off): the caller
 * creates them at start-up. Losing and regaining the server is logged, since
 * the operations that fail meanwhile carry only the driver's reason.
 */
export async function connectMongo(url: string, { timeoutMs, logger, purpose }: MongoConnectionOptions): Promise<MongoConnection> {
  const connection = await mongoose
    .createConnection(url, {
      serverSelectionTimeoutMS: timeoutMs,
      // The driver's 30 s default would keep calls failing that long after the server is back.
      connectTimeoutMS: timeoutMs,
      autoIndex: false,
    })
    .asPromise();
  const lost = () => logger.warn(`lost the connection to MongoDB (${purpose}) until it is back`);
  const back = () => logger.info(`connected to MongoDB (${purpose}) again`);
  connection.on("disconnected", lost).on("reconnected", back);
  return {
    connection,
    async close() {
      connection.off("disconnected", lost).off("reconnected", back);
      await connection.close();
    },
  };
}
