// platform/mongo: what a service that keeps documents in a MongoDB-protocol
// store (MongoDB, or FerretDB v1 in the tests and the local mesh) needs besides
// its own schemas: the URL variable's validation, one connection with short
// timeouts and outage logging, and the few facts about the server and its
// errors that decide how a service writes (is a conditional update atomic
// there, is this a duplicate key, is the store away), and the write claims
// that make a conditional write safe where it is not atomic.
//
// It must never hold a service's schemas or business rules, never keep a
// global connection (main.ts opens one and passes it down), and never log a
// URL (it may carry a password).
export { connectMongo, type MongoConnection, type MongoConnectionOptions } from "./connection.js";
export { hasAtomicConditionalUpdates, isDuplicateKey, isStoreUnavailable } from "./errors.js";
export { mongoUrl } from "./url.js";
export {
  type AbandonedClaim,
  abandonedClaimMs,
  claimFenceMs,
  type WriteClaim,
  type WriteClaimFields,
  type WriteClaims,
  writeClaims,
} from "./write-claims.js";
