// What a handler knows about the call it serves, and the AsyncLocalStorage that
// carries it through the handler's awaits so outgoing calls made by
// platform/grpc clients inherit its deadline, cancellation and metadata
// without every function passing it along.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Metadata } from "@grpc/grpc-js";
import type { Logger } from "../log/index.js";

/** The verified caller of a call, as platform/auth builds it from the bearer token. */
export interface Principal {
  /** The user id (JWT `sub`). */
  subject: string;
  email?: string;
  roles: string[];
  /** The raw access token, so calls made on the caller's behalf carry it on. */
  token: string;
  expiresAt: Date;
}

export interface CallContext {
  /** Full method path, e.g. "/mel.catalog.v1.CatalogService/GetItem". */
  method: string;
  /** The incoming request metadata (headers). */
  metadata: Metadata;
  /** From the `x-correlation-id` metadata, or generated when absent. */
  correlationId: string;
  /** W3C trace context from the `traceparent` metadata, if the caller sent one. */
  traceparent?: string;
  /** When the caller stops waiting; undefined when it set no deadline. */
  deadline?: Date;
  /** Aborted when the caller cancels or its deadline passes: pass it to I/O that accepts one. */
  signal: AbortSignal;
  /** Logger bound to this call (correlationId, method). */
  log: Logger;
  /** The authenticated caller, when the method's policy required one or a valid token came anyway. */
  principal?: Principal | undefined;
  /**
   * Adds a response header (gRPC initial metadata), sent with the response or
   * the first streamed message; a header set after that is not sent. The
   * gateway passes headers on (HTTP/JSON as Grpc-Metadata-<name>).
   */
  setResponseHeader(name: string, value: string): void;
}

/** Metadata keys carried from an incoming call to the calls it makes. */
export const correlationIdKey = "x-correlation-id";
export const traceparentKey = "traceparent";
export const tracestateKey = "tracestate";
export const authorizationKey = "authorization";

const storage = new AsyncLocalStorage<CallContext>();

/** Runs `work` with `context` as the current call (used by implementService). */
export function runInCallContext<T>(context: CallContext, work: () => T): T {
  return storage.run(context, work);
}

/** The call being served by the current async flow, if any (clients use it to propagate). */
export function currentCallContext(): CallContext | undefined {
  return storage.getStore();
}
