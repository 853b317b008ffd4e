// Request bodies are decoded by implementService, not by grpc-js. grpc-js
// answers a body its deserializer throws on with INTERNAL before any handler
// runs, and INTERNAL says "the server failed": a caller sending bytes that are
// not the request message (or an int64 the generated code cannot hold as a JS
// number) would then count as the service being unwell in every client's
// circuit breaker. Here a body that does not decode is the caller's mistake,
// INVALID_ARGUMENT, logged like any other rejected request.
import type { MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { DomainError, ErrorReason, StatusCode } from "../errors/index.js";

/** A request body that is not an encoding of the method's request message. */
export class UndecodableRequestError extends DomainError {
  readonly code = StatusCode.INVALID_ARGUMENT;

  constructor(message: string) {
    super(message, { reason: ErrorReason.REQUEST_UNDECODABLE });
  }
}

// Carries, on each implementation, the definition it was built for, so the
// server can register exactly its methods with pass-through deserializers.
const decodesRequestsOf = Symbol("decodesRequestsOf");

/** Records on `implementation` that it decodes the requests of `definition` itself. */
export function markDecodesRequests(implementation: UntypedServiceImplementation, definition: ServiceDefinition): void {
  Object.defineProperty(implementation, decodesRequestsOf, { value: definition, enumerable: false });
}

const passThrough = (bytes: Buffer): Buffer => bytes;

/**
 * `definition` with every request deserializer replaced by the identity, for
 * registering an implementation from implementService on a grpc-js server.
 * Throws for any other implementation (it would receive raw bytes it does not
 * expect) or for one built for another service.
 */
export function passThroughRequests(definition: ServiceDefinition, implementation: UntypedServiceImplementation): ServiceDefinition {
  const builtFor = (implementation as { [decodesRequestsOf]?: ServiceDefinition })[decodesRequestsOf];
  if (builtFor === undefined)
    throw new Error("serve implementations made by implementService: it decodes each request and maps bad bodies to INVALID_ARGUMENT");
  if (builtFor !== definition) throw new Error("the implementation was built by implementService for another service definition than the one it is added with");
  return Object.fromEntries(Object.entries(definition).map(([name, method]) => [name, { ...method, requestDeserialize: passThrough }]));
}

/**
 * Decodes a raw request body with the generated deserializer, or throws
 * UndecodableRequestError naming the expected message type.
 */
export function decodeRequest(method: MethodDefinition<unknown, unknown>, body: unknown): unknown {
  if (!Buffer.isBuffer(body)) throw new Error(`${method.path} received a decoded request: register it through createGrpcServer().addService`);
  try {
    return method.requestDeserialize(body);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UndecodableRequestError(`request body is not a valid ${requestTypeName(method.path)} (${reason})`);
  }
}

// buf's STANDARD lint (RPC_REQUEST_STANDARD_NAME, enforced on proto/) names
// each request message <Method>Request in the service's package, and the
// generated definitions carry only the method path.
function requestTypeName(path: string): string {
  const [, service = "", method = ""] = path.split("/");
  const pkg = service.slice(0, service.lastIndexOf("."));
  return `${pkg}.${method}Request`;
}
