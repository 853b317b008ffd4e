// implementService: turns async handlers into a grpc-js service implementation.
// It is the ONE place where thrown errors become gRPC statuses, where each
// method's access policy is enforced, where request bodies are decoded (a body
// that does not decode is INVALID_ARGUMENT, see request-decoding.ts), and where
// every call gets its CallContext, its log line and its AsyncLocalStorage scope.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  status as GrpcStatus,
  Metadata,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { CancelledError, DeadlineExceededError, PermissionDeniedError, UnauthenticatedError } from "../errors/index.js";
import { type CallOutcome, callLogLevel, type Logger, slowCallMsOf } from "../log/index.js";
import { recordServerCall } from "../telemetry/index.js";
import { type CallContext, correlationIdKey, type Principal, runInCallContext, traceparentKey } from "./call-context.js";
import { decodeRequest, markDecodesRequests } from "./request-decoding.js";
import { statusName, toGrpcStatus } from "./status.js";

/** Who may call a method: anyone, any signed-in user, or users holding a role. */
export type MethodPolicy = "public" | "authenticated" | { role: string };

/** One policy for every method of a service: a missing one fails at startup. */
export type MethodPolicies<Definition extends ServiceDefinition> = { [Method in keyof Definition & string]: MethodPolicy };

/**
 * Verifies the caller from the request metadata (platform/auth supplies it).
 * Returns the principal, or undefined when no credentials came; throws
 * UnauthenticatedError / PermissionDeniedError for bad ones.
 */
export type Authenticate = (metadata: Metadata, policy: MethodPolicy) => Promise<Principal | undefined>;

/** A unary handler: resolves with the response or throws a platform/errors error. */
export type UnaryHandler<Request, Response> = (request: Request, ctx: CallContext) => Promise<Response> | Response;

/**
 * A server-streaming handler: an async generator yielding each response
 * message. Returning ends the stream with OK; throwing ends it with the mapped
 * status. When the caller goes away ctx.signal aborts and the generator is
 * closed at its next yield.
 */
export type ServerStreamHandler<Request, Response> = (request: Request, ctx: CallContext) => AsyncIterable<Response>;

type RequestOf<Method> = Method extends { requestDeserialize: (bytes: Buffer) => infer Request } ? Request : never;
type ResponseOf<Method> = Method extends { responseSerialize: (value: infer Response) => Buffer } ? Response : never;

/** The handlers a service definition needs, typed from the generated definition. */
export type ServiceHandlers<Definition extends ServiceDefinition> = {
  [Method in keyof Definition]: Definition[Method] extends { requestStream: false; responseStream: false }
    ? UnaryHandler<RequestOf<Definition[Method]>, ResponseOf<Definition[Method]>>
    : Definition[Method] extends { requestStream: false; responseStream: true }
      ? ServerStreamHandler<RequestOf<Definition[Method]>, ResponseOf<Definition[Method]>>
      : never;
};

export interface ImplementServiceOptions<Definition extends ServiceDefinition> {
  policies: MethodPolicies<Definition>;
  /** Required as soon as one method is not "public". */
  authenticate?: Authenticate | undefined;
  /** Parent of every call's ctx.log. */
  logger: Logger;
}

/**
 * Builds the grpc-js implementation of `definition` (a ts-proto
 * `XServiceService`) from `handlers`. Throws at startup when a method lacks a
 * handler or a policy, when a non-public method has no `authenticate`, or when
 * the service has client-streaming methods (not supported here). The
 * implementation decodes its own requests: serve it with
 * createGrpcServer().addService, which registers it with pass-through
 * deserializers.
 */
export function implementService<Definition extends ServiceDefinition>(
  definition: Definition,
  handlers: ServiceHandlers<Definition>,
  options: ImplementServiceOptions<Definition>,
): UntypedServiceImplementation {
  checkWiring(definition, handlers, options);
  const implementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const policy = options.policies[name as keyof Definition & string];
    const handler = handlers[name as keyof Definition] as unknown;
    const serve: MethodServing = { path: method.path, method, policy, authenticate: options.authenticate, logger: options.logger };
    implementation[name] = method.responseStream
      ? serveServerStream(serve, handler as ServerStreamHandler<unknown, unknown>)
      : serveUnary(serve, handler as UnaryHandler<unknown, unknown>);
  }
  markDecodesRequests(implementation, definition);
  return implementation;
}

interface MethodServing {
  path: string;
  method: MethodDefinition<unknown, unknown>;
  policy: MethodPolicy;
  authenticate: Authenticate | undefined;
  logger: Logger;
}

function checkWiring<Definition extends ServiceDefinition>(
  definition: Definition,
  handlers: ServiceHandlers<Definition>,
  { policies, authenticate }: ImplementServiceOptions<Definition>,
): void {
  const methods = Object.keys(definition);
  const service = serviceNameOf(definition);
  const problems: string[] = [];
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) problems.push(`${name}: client-streaming methods are not supported by implementService`);
    if (typeof (handlers as Record<string, unknown>)[name] !== "function") problems.push(`${name}: no handler`);
    const policy = (policies as Record<string, MethodPolicy | undefined>)[name];
    if (policy === undefined) problems.push(`${name}: no access policy; give it "public", "authenticated" or { role: "<role>" }`);
    else if (policy !== "public" && authenticate === undefined)
      problems.push(`${name}: policy ${JSON.stringify(policy)} needs an authenticate function in the options`);
  }
  for (const name of Object.keys(policies)) if (!methods.includes(name)) problems.push(`${name}: has a policy but ${service} has no such method`);
  for (const name of Object.keys(handlers)) if (!methods.includes(name)) problems.push(`${name}: has a handler but ${service} has no such method`);
  if (problems.length > 0) throw new Error(`cannot implement ${service}:\n  ${problems.join("\n  ")}`);
}

/** "mel.catalog.v1.CatalogService" from a definition's method paths. */
export function serviceNameOf(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (!first) throw new Error("a service definition without methods cannot be served");
  return first.path.split("/")[1] ?? first.path;
}

function serveUnary(serve: MethodServing, handler: UnaryHandler<unknown, unknown>): UntypedHandleCall {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const started = performance.now();
    const { ctx, endedEarly, finish, sendResponseHeaders } = openCallContext(call, serve);
    void runInCallContext(ctx, async () => {
      try {
        ctx.principal = await authorize(serve, ctx.metadata);
        const response = await handler(decodeRequest(serve.method, call.request), ctx);
        sendResponseHeaders();
        callback(null, response);
        logCall(serve.logger, ctx, finishedCode(endedEarly()), started);
      } catch (error: unknown) {
        const mapped = failCall(serve.logger, ctx, error, started);
        callback({ code: mapped.code, details: mapped.details, metadata: mapped.metadata });
      } finally {
        finish();
      }
    });
  };
}

function serveServerStream(serve: MethodServing, handler: ServerStreamHandler<unknown, unknown>): UntypedHandleCall {
  return (call: ServerWritableStream<unknown, unknown>) => {
    const started = performance.now();
    const { ctx, finish, sendResponseHeaders } = openCallContext(call, serve);
    void runInCallContext(ctx, async () => {
      try {
        ctx.principal = await authorize(serve, ctx.metadata);
        for await (const message of handler(decodeRequest(serve.method, call.request), ctx)) {
          if (ctx.signal.aborted) break;
          sendResponseHeaders();
          if (!call.write(message)) await drained(call, ctx.signal);
        }
        if (ctx.signal.aborted) throw ctx.signal.reason;
        call.end();
        logCall(serve.logger, ctx, GrpcStatus.OK, started);
      } catch (error: unknown) {
        const mapped = failCall(serve.logger, ctx, error, started);
        // grpc-js ends a server stream with this status when 'error' is emitted on it.
        call.emit("error", { code: mapped.code, details: mapped.details, metadata: mapped.metadata });
      } finally {
        finish();
      }
    });
  };
}

function drained(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

type IncomingCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

interface OpenedCall {
  ctx: CallContext;
  /** Why the call ended before its handler answered (the caller cancelled, or the deadline passed), if it did. */
  endedEarly(): Error | undefined;
  finish(): void;
  sendResponseHeaders(): void;
}

function openCallContext(call: IncomingCall, { path, logger }: MethodServing): OpenedCall {
  const metadata = call.metadata;
  const correlationId = cleanCorrelationId(firstString(metadata, correlationIdKey)) ?? randomUUID();
  const traceparent = cleanTraceparent(firstString(metadata, traceparentKey));
  const rawDeadline = call.getDeadline();
  const deadline = rawDeadline instanceof Date ? rawDeadline : Number.isFinite(rawDeadline) ? new Date(rawDeadline) : undefined;
  let cancelled = false;
  const endedEarly = (): Error | undefined => {
    // grpc-js also reports a call cancelled when its deadline passes: the deadline is the cause then.
    if (deadline !== undefined && Date.now() >= deadline.getTime()) return new DeadlineExceededError(`the deadline of ${path} passed`);
    return cancelled ? new CancelledError(`the caller cancelled ${path}`) : undefined;
  };
  // The signal, and the timer that aborts it at the deadline, are made when a
  // handler first asks for them: most unary handlers never do, and an
  // AbortController and a timer per call are a measurable share of a cheap call.
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const signal = (): AbortSignal => {
    if (controller !== undefined) return controller.signal;
    controller = new AbortController();
    const early = endedEarly();
    if (early !== undefined) controller.abort(early);
    else if (deadline !== undefined) {
      // grpc-js ends the call itself at the deadline; the timer makes sure handler
      // I/O listening on ctx.signal stops at the same moment.
      const aborting = controller;
      timer = setTimeout(() => aborting.abort(endedEarly()), Math.max(0, deadline.getTime() - Date.now()));
      timer.unref();
    }
    return controller.signal;
  };
  const onCancelled = () => {
    cancelled = true;
    controller?.abort(endedEarly());
  };
  call.once("cancelled", onCancelled);
  let callLog: Logger | undefined;
  let responseHeaders: Metadata | undefined;
  let headersSent = false;
  const sendResponseHeaders = () => {
    if (headersSent) return;
    headersSent = true;
    if (responseHeaders !== undefined) call.sendMetadata(responseHeaders);
  };
  const ctx: CallContext = {
    method: path,
    metadata,
    correlationId,
    get signal() {
      return signal();
    },
    // Made on first use: most calls never log, and a pino child per call costs.
    get log() {
      callLog ??= logger.child({ correlationId, method: path });
      return callLog;
    },
    ...(traceparent === undefined ? {} : { traceparent }),
    ...(deadline === undefined ? {} : { deadline }),
    setResponseHeader(name, value) {
      if (headersSent) return;
      responseHeaders ??= new Metadata();
      responseHeaders.set(name, value);
    },
  };
  const finish = () => {
    clearTimeout(timer);
    call.off("cancelled", onCancelled);
  };
  return { ctx, endedEarly, finish, sendResponseHeaders };
}

async function authorize({ policy, authenticate }: MethodServing, metadata: Metadata): Promise<Principal | undefined> {
  if (authenticate === undefined) return undefined;
  const principal = await authenticate(metadata, policy);
  if (policy === "public") return principal;
  if (principal === undefined) throw new UnauthenticatedError('this method needs a bearer token: send "authorization: Bearer <access token>" metadata');
  if (typeof policy === "object" && !principal.roles.includes(policy.role)) {
    throw new PermissionDeniedError(`this method needs the "${policy.role}" role, which the caller does not have`);
  }
  return principal;
}

function failCall(logger: Logger, ctx: CallContext, error: unknown, started: number) {
  const mapped = toGrpcStatus(error);
  if (mapped.unexpected) ctx.log.error({ err: error }, `unexpected error in ${ctx.method}`);
  logCall(logger, ctx, mapped.code, started, mapped.details);
  return mapped;
}

const serverFaults = new Set([GrpcStatus.INTERNAL, GrpcStatus.UNKNOWN, GrpcStatus.DATA_LOSS, GrpcStatus.UNIMPLEMENTED]);
const transientFaults = new Set([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.RESOURCE_EXHAUSTED]);

/** OK, unless the call ended first (then nobody received the answer). */
function finishedCode(endedEarly: Error | undefined): GrpcStatus {
  return endedEarly === undefined ? GrpcStatus.OK : toGrpcStatus(endedEarly).code;
}

/** The call's duration metric, and one line per call at the level callLogLevel gives it (OK calls at debug), with the call's correlation id. */
function logCall(logger: Logger, ctx: CallContext, code: GrpcStatus, started: number, details?: string): void {
  const elapsedMs = performance.now() - started;
  recordServerCall(ctx.method, code, elapsedMs / 1000);
  const durationMs = Math.round(elapsedMs * 10) / 10;
  const outcome: CallOutcome = code === GrpcStatus.OK ? "ok" : serverFaults.has(code) ? "fault" : transientFaults.has(code) ? "transient" : "rejected";
  const level = callLogLevel(outcome, durationMs, slowCallMsOf(logger));
  if (!logger.isLevelEnabled(level)) return;
  ctx.log[level]({ code: statusName(code), durationMs, ...(details === undefined ? {} : { details }) }, "grpc call");
}

function firstString(metadata: Metadata, key: string): string | undefined {
  const [value] = metadata.get(key);
  return typeof value === "string" ? value : undefined;
}

// Correlation ids come from outside and go into every log line: accept only a
// short, plain token so a caller cannot forge log structure.
function cleanCorrelationId(value: string | undefined): string | undefined {
  return value !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined;
}

function cleanTraceparent(value: string | undefined): string | undefined {
  return value !== undefined && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value) ? value : undefined;
}
