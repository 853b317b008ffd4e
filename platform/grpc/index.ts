// The gRPC platform: the server bootstrap (health, reflection, graceful drain),
// implementService (CallContext, access policies, request decoding, the one
// mapping from thrown errors to statuses with their google.rpc.Status details,
// one log line per call) and the client factory (deadlines, retries for the
// methods the contract marks idempotent via the service config, a circuit
// breaker that counts only upstream failures, metadata and deadline
// propagation, round robin, the one rule for an upstream's failure).
// Must never: hold business rules, keep global state beyond the per-call
// AsyncLocalStorage, retry a method not declared idempotent, make a call
// without a deadline, leave a call without a final status, count a caller's bad
// input as an upstream failure, or show a caller an unexpected error's internals.

export type { CallContext, Principal } from "./call-context.js";
export { authorizationKey, correlationIdKey, currentCallContext, traceparentKey, tracestateKey } from "./call-context.js";
export type {
  CreateClientOptions,
  CreateGenericClientOptions,
  GeneratedClientConstructor,
  GenericUpstreamClient,
  UnaryCallOptions,
  UnaryMethodName,
  UnaryRequest,
  UnaryResponse,
  UpstreamClient,
} from "./client.js";
export { callUnary, createClient, createGenericClient, defaultDeadlineMs } from "./client.js";
export type { BreakerOptions } from "./client-interceptors.js";
export { breakerFailureCodes, defaultBreaker } from "./client-interceptors.js";
export { contractRegistry, idempotentMethodsOf } from "./contract.js";
export type {
  Authenticate,
  ImplementServiceOptions,
  MethodPolicies,
  MethodPolicy,
  ServerStreamHandler,
  ServiceHandlers,
  UnaryHandler,
} from "./implement-service.js";
export { implementService, serviceNameOf } from "./implement-service.js";
export type { CreateGrpcServerOptions, GrpcServer } from "./server.js";
export { createGrpcServer, defaultDescriptorSetPath } from "./server.js";
export type { RetryOptions, RetryThrottlingOptions } from "./service-config.js";
export { defaultRetry, defaultRetryThrottling, toChannelTarget } from "./service-config.js";
export type { MappedStatus, StatusDetailsInput } from "./status.js";
export {
  errorDomain,
  errorInfoOf,
  internalErrorDetails,
  isStatusCarrying,
  readStatusDetails,
  reasonName,
  statusDetailsFor,
  statusDetailsKey,
  statusName,
  toGrpcStatus,
} from "./status.js";
export type { GrpcTls, GrpcTlsFiles } from "./tls.js";
export { certificateNames, createGrpcTls } from "./tls.js";
export type { GrpcClientTransportConfig, GrpcServerTransport, GrpcServerTransportConfig, GrpcTransport } from "./transport.js";
export {
  createGrpcClientTransport,
  createGrpcServerTransport,
  grpcClientEnv,
  grpcClientTransportFrom,
  grpcServerEnv,
  grpcServerTransportFrom,
} from "./transport.js";
export type { UpstreamStatus } from "./upstream-failure.js";
export { UpstreamFailureError, upstreamFailure } from "./upstream-failure.js";
