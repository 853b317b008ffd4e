import mongoose, { type Connection } from "mongoose";

// The driver mongoose runs on, so instanceof sees the classes its errors are made from.
const { MongoError, MongoNetworkError, MongoServerSelectionError } = mongoose.mongo;

/** Labels the server and the driver put on failures that the same operation may get past later. */
const transientErrorLabels = ["RetryableWriteError", "TransientTransactionError"] as const;

/** True for an insert or update refused by a unique index (E11000). */
export function isDuplicateKey(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 11000;
}

/**
 * True when `error` means the store could not be reached (no server to select,
 * a connection refused, reset or timed out) or failed transiently, rather than
 * refusing the operation itself (a duplicate key, a bad update).
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  return error instanceof MongoError && transientErrorLabels.some((label) => error.hasErrorLabel(label));
}

/**
 * True when the server applies an update's filter and its change atomically,
 * as MongoDB does. FerretDB v1 does not: it reads the matching documents, then
 * writes each back by _id, so two writers filtering on the same value can both
 * "match" and the second overwrites the first. It identifies itself with
 * `ferretdbVersion` in buildInfo.
 */
export async function hasAtomicConditionalUpdates(connection: Connection): Promise<boolean> {
  if (connection.db === undefined) throw new Error("the MongoDB connection is not open yet: connect before asking the server what it is");
  const info = (await connection.db.admin().command({ buildInfo: 1 })) as Record<string, unknown>;
  return info.ferretdbVersion === undefined;
}
