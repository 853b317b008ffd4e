// One factory for every internal gRPC client: ts-proto generated clients for
// service-to-service calls (createClient + callUnary) and a raw grpc-js Client
// for the gateway's pass-through calls (createGenericClient). Both get the same
// channel: round robin, retries from the service config for idempotent methods
// only, a deadline on every call, metadata and deadline propagation from the
// incoming call, and a circuit breaker per upstream.
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
  type Interceptor,
  Metadata,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import type { CircuitBreakerPolicy } from "cockatiel";
import type { Logger } from "../log/index.js";
import { currentCallContext } from "./call-context.js";
import { type BreakerOptions, createBreakerInterceptor, createCallPolicyInterceptor, defaultBreaker } from "./client-interceptors.js";
import { contractRegistry, idempotentMethodsOf } from "./contract.js";
import { serviceNameOf } from "./implement-service.js";
import { defaultDescriptorSetPath } from "./server.js";
import {
  buildServiceConfig,
  defaultRetry,
  defaultRetryThrottling,
  type MethodName,
  type RetryOptions,
  type RetryThrottlingOptions,
  toChannelTarget,
} from "./service-config.js";
import { upstreamFailure } from "./upstream-failure.js";

export const defaultDeadlineMs = 5_000;

interface UpstreamOptions {
  /** Short upstream name for logs and breaker messages ("catalog"). */
  upstream: string;
  /** "host:port", "ip1:p1,ip2:p2" (round robin) or a grpc-js target ("dns:///catalog:50052"). */
  target: string;
  /** Deadline of a call that sets none (default 5000 ms); never longer than the incoming call's remaining time. */
  defaultDeadlineMs?: number;
  retry?: Partial<RetryOptions>;
  retryThrottling?: RetryThrottlingOptions;
  breaker?: Partial<BreakerOptions>;
  logger: Logger;
  credentials?: ChannelCredentials;
  /** Extra grpc-js channel options (keepalive, message sizes…). */
  channelOptions?: ChannelOptions;
  /** More interceptors (metrics, tests), run after the platform's, closest to the wire: they see the final deadline and metadata. */
  interceptors?: Interceptor[];
}

/** A ts-proto generated client class (e.g. CatalogServiceClient). */
export interface GeneratedClientConstructor<C extends Client> {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): C;
  service: ServiceDefinition;
}

export interface CreateClientOptions<Definition extends ServiceDefinition> extends UpstreamOptions {
  /**
   * The descriptor set whose `idempotency_level` options say which methods are
   * retried (NO_SIDE_EFFECTS and IDEMPOTENT ones); gen/descriptor.binpb by default.
   */
  descriptorSetPath?: string;
  /** Per-method deadline overrides in ms, by client method name. */
  methodDeadlinesMs?: Partial<Record<keyof Definition & string, number>>;
}

export interface UpstreamClient<C extends Client> {
  client: C;
  /** The upstream's circuit breaker (state, events), e.g. for readiness reporting. */
  breaker: CircuitBreakerPolicy;
}

/**
 * A generated client for `upstream` with the platform's channel; the methods
 * retried are those the contract marks idempotent. Call its unary methods
 * with callUnary for promises. Throws at startup on an unknown method name,
 * a service missing from the descriptor set, or a target that cannot be spread.
 */
export function createClient<C extends Client, Ctor extends GeneratedClientConstructor<C>>(
  ClientConstructor: Ctor & GeneratedClientConstructor<C>,
  options: CreateClientOptions<Ctor["service"]>,
): UpstreamClient<C> {
  const definition = ClientConstructor.service;
  const service = serviceNameOf(definition);
  const protoName = (name: string): MethodName => {
    const method = definition[name];
    if (method === undefined)
      throw new Error(`${options.upstream}: ${service} has no method "${name}" (use the client's method names, e.g. "${Object.keys(definition)[0]}")`);
    return { service, method: method.path.split("/")[2] ?? name };
  };
  const idempotentMethods = idempotentMethodsOf(contractRegistry(options.descriptorSetPath ?? defaultDescriptorSetPath), service);
  const deadlineByPath = new Map<string, number>();
  for (const [name, ms] of Object.entries(options.methodDeadlinesMs ?? {}) as [string, number | undefined][]) {
    if (ms !== undefined) deadlineByPath.set(`/${service}/${protoName(name).method}`, ms);
  }
  const channel = buildChannel(options, idempotentMethods, deadlineByPath);
  const client = new ClientConstructor(channel.target, options.credentials ?? credentials.createInsecure(), channel.clientOptions);
  upstreamNames.set(client, options.upstream);
  return { client, breaker: channel.breaker };
}

/** The upstream name each client was made for, so a failed call's error can name it. */
const upstreamNames = new WeakMap<Client, string>();

function definitionOf(client: Client): ServiceDefinition | undefined {
  return (client.constructor as Partial<GeneratedClientConstructor<Client>>).service;
}

function serviceNameOfClient(client: Client): string {
  const definition = definitionOf(client);
  return definition === undefined ? "an upstream service" : serviceNameOf(definition);
}

function methodPath(client: Client, method: string): string {
  return definitionOf(client)?.[method]?.path ?? method;
}

export interface CreateGenericClientOptions extends UpstreamOptions {
  /** Full proto service name ("mel.catalog.v1.CatalogService") that short method names below belong to. */
  serviceName?: string;
  /**
   * Methods safe to repeat, as proto method names ("GetItem") of serviceName or
   * full names ("mel.catalog.v1.CatalogService/GetItem"): the gateway lists
   * those its descriptor set marks idempotent (see idempotentMethodsOf).
   */
  idempotentMethods: string[];
  /** Per-method deadline overrides in ms, keyed like idempotentMethods. */
  methodDeadlinesMs?: Record<string, number>;
}

export interface GenericUpstreamClient {
  /** Call with makeUnaryRequest / makeServerStreamRequest and pass-through serializers. */
  client: Client;
  breaker: CircuitBreakerPolicy;
  /** The interceptors already installed on `client`, for building other clients on the same policy. */
  interceptors: Interceptor[];
}

/**
 * A raw grpc-js Client for calling arbitrary methods of `target` (the
 * gateway's pass-through path) with the same deadline, metadata, retry and
 * breaker treatment as createClient.
 */
export function createGenericClient(options: CreateGenericClientOptions): GenericUpstreamClient {
  const toMethodName = (name: string): MethodName => {
    const full = name.replace(/^\//, "");
    const slash = full.indexOf("/");
    if (slash > 0) return { service: full.slice(0, slash), method: full.slice(slash + 1) };
    if (options.serviceName === undefined) throw new Error(`${options.upstream}: method "${name}" needs serviceName, or give it as "package.Service/Method"`);
    return { service: options.serviceName, method: name };
  };
  const deadlineByPath = new Map(
    Object.entries(options.methodDeadlinesMs ?? {}).map(([name, ms]) => {
      const { service, method } = toMethodName(name);
      return [`/${service}/${method}`, ms] as const;
    }),
  );
  const channel = buildChannel(options, options.idempotentMethods.map(toMethodName), deadlineByPath);
  const client = new Client(channel.target, options.credentials ?? credentials.createInsecure(), channel.clientOptions);
  return { client, breaker: channel.breaker, interceptors: channel.interceptors };
}

function buildChannel(options: UpstreamOptions, idempotentMethods: MethodName[], deadlineByPath: Map<string, number>) {
  const retry = { ...defaultRetry, ...options.retry };
  const breakerOptions = { ...defaultBreaker, ...options.breaker };
  const fallbackDeadlineMs = options.defaultDeadlineMs ?? defaultDeadlineMs;
  const breaker = createBreakerInterceptor(options.upstream, breakerOptions, options.logger);
  const interceptors = [
    createCallPolicyInterceptor({ deadlineMsFor: (path) => deadlineByPath.get(path) ?? fallbackDeadlineMs }),
    breaker.interceptor,
    ...(options.interceptors ?? []),
  ];
  const serviceConfig = buildServiceConfig({ idempotentMethods, retry, retryThrottling: options.retryThrottling ?? defaultRetryThrottling });
  const clientOptions: Partial<ClientOptions> = {
    ...options.channelOptions,
    interceptors,
    "grpc.service_config": JSON.stringify(serviceConfig),
    // No DNS TXT lookups for service configs: ours is the one that applies.
    "grpc.service_config_disable_resolution": 1,
    ...(retry.maxAttempts > 5 ? { "grpc-node.retry_max_attempts_limit": retry.maxAttempts } : {}),
  };
  return { target: toChannelTarget(options.target), clientOptions, interceptors, breaker: breaker.policy };
}

type UnaryCallback<Response> = (error: ServiceError | null, response: Response) => void;
type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: UnaryCallback<Response>,
) => ClientUnaryCall;

/** Names of the unary methods of a generated client. */
export type UnaryMethodName<C> = {
  [K in keyof C]: C[K] extends UnaryMethod<infer _Request, infer _Response> ? K : never;
}[keyof C] &
  string;
export type UnaryRequest<C, M extends keyof C> = C[M] extends UnaryMethod<infer Request, infer _Response> ? Request : never;
export type UnaryResponse<C, M extends keyof C> = C[M] extends UnaryMethod<infer _Request, infer Response> ? Response : never;

export interface UnaryCallOptions {
  /** Extra metadata; propagated keys (authorization, correlation id, trace) are added when absent. */
  metadata?: Metadata;
  /** Overrides the client's default deadline (still capped by the incoming call's). */
  deadline?: Date;
  /** Aborting cancels the call (CANCELLED). */
  signal?: AbortSignal;
}

/**
 * Calls a unary method of a generated client and resolves with the response.
 * Inside a handler a failure rejects with what upstreamFailure makes of it
 * (UNAVAILABLE or INTERNAL naming the upstream, or the caller's own
 * CANCELLED), never with the callee's status; an UpstreamFailureError keeps
 * the callee's answer for a service that deliberately translates it. Outside
 * a handler it rejects with the grpc-js ServiceError (code, details, metadata).
 */
export function callUnary<C extends Client, M extends UnaryMethodName<C>>(
  client: C,
  method: M,
  request: UnaryRequest<C, M>,
  options: UnaryCallOptions = {},
): Promise<UnaryResponse<C, M>> {
  const invoke = client[method] as unknown as UnaryMethod<UnaryRequest<C, M>, UnaryResponse<C, M>>;
  const incoming = currentCallContext();
  return new Promise((resolve, reject) => {
    const { signal } = options;
    const onAbort = () => call.cancel();
    const call = invoke.call(client, request, options.metadata ?? new Metadata(), options.deadline ? { deadline: options.deadline } : {}, (error, response) => {
      signal?.removeEventListener("abort", onAbort);
      if (error) reject(upstreamFailure(upstreamNames.get(client) ?? serviceNameOfClient(client), methodPath(client, method), error, incoming));
      else resolve(response);
    });
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}
