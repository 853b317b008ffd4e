// Shared setup for platform/grpc's tests: a log sink that keeps every line, a
// real CatalogService server on 127.0.0.1 with handlers the test controls, and
// small waiting helpers. Methods a test leaves out answer UNIMPLEMENTED.
import { status as GrpcStatus, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";
import { CatalogItem, CatalogServiceService } from "../../gen/mel/catalog/v1/catalog.js";
import { createLogger, type Logger } from "../log/index.js";
import { type Authenticate, implementService, type MethodPolicies, type MethodPolicy, type ServiceHandlers } from "./implement-service.js";
import { type CreateGrpcServerOptions, createGrpcServer, type GrpcServer } from "./server.js";

export interface CapturedLog {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Everything written, as one string (to search for leaked secrets). */
  text(): string;
}

/** A logger whose JSON lines are kept in memory. */
export function captureLog(service = "test"): CapturedLog {
  const raw: string[] = [];
  const logger = createLogger({ service, level: "debug", destination: { write: (line: string) => void raw.push(line) } });
  return {
    logger,
    get lines() {
      return raw.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    text: () => raw.join(""),
  };
}

export interface TestServer {
  grpc: GrpcServer;
  port: number;
  address: string;
  stop(): Promise<void>;
}
export type TestCatalogServer = TestServer;

export interface TestServerOptions<Definition extends ServiceDefinition> {
  logger?: Logger;
  /** Policies per method; "public" for those left out. */
  policies?: Partial<MethodPolicies<Definition>>;
  authenticate?: Authenticate;
  /** Transport settings (TLS credentials, connection age, health port). */
  serverOptions?: Pick<CreateGrpcServerOptions, "credentials" | "channelOptions" | "healthPort">;
  /** Passed to GrpcServer.readyWhen before listen. */
  readyWhen?: Promise<void>;
}

/** `definition` served on 127.0.0.1:<free port> by `handlers`; the others answer UNIMPLEMENTED. */
export async function startTestServer<Definition extends ServiceDefinition>(
  definition: Definition,
  handlers: Partial<ServiceHandlers<Definition>>,
  options: TestServerOptions<Definition> = {},
): Promise<TestServer> {
  const logger = options.logger ?? captureLog("server").logger;
  const methods = Object.keys(definition) as (keyof Definition & string)[];
  const all = Object.fromEntries(methods.map((name) => [name, handlers[name] ?? unimplemented(name)])) as unknown as ServiceHandlers<Definition>;
  const policies = Object.fromEntries(
    methods.map((name) => [name, options.policies?.[name] ?? ("public" satisfies MethodPolicy)]),
  ) as MethodPolicies<Definition>;
  const grpc = createGrpcServer({ serviceName: "test", logger, ...options.serverOptions });
  grpc.addService(definition, implementService(definition, all, { policies, authenticate: options.authenticate, logger }));
  if (options.readyWhen) grpc.readyWhen(options.readyWhen, "the test says so");
  const port = await grpc.listen("127.0.0.1", 0);
  return { grpc, port, address: `127.0.0.1:${port}`, stop: () => grpc.drain(0) };
}

/** A CatalogService on 127.0.0.1:<free port> serving `handlers`. */
export function startCatalogServer(
  handlers: Partial<ServiceHandlers<typeof CatalogServiceService>>,
  options: TestServerOptions<typeof CatalogServiceService> = {},
): Promise<TestServer> {
  return startTestServer(CatalogServiceService, handlers, options);
}

function unimplemented(name: string) {
  return async (): Promise<never> => {
    throw { code: GrpcStatus.UNIMPLEMENTED, details: `${name} is not part of this test` };
  };
}

export function item(id: string, name = `item ${id}`): CatalogItem {
  return CatalogItem.fromPartial({ id, name });
}

/** Rejection of `promise` as a ServiceError (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error: unknown) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
