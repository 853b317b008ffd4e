// The gRPC platform: the server bootstrap (health, reflection, graceful drain),
// implementService (CallContext, access policies, the one mapping from thrown
// errors to statuses, one log line per call) and the client factory (deadlines,
// retries for the methods the contract marks idempotent via the service config, circuit breaker,
// metadata and deadline propagation, round robin).
// Must never: hold business rules, keep global state beyond the per-call
// AsyncLocalStorage, retry a method not declared idempotent, make a call
// without a deadline, or show a caller an unexpected error's internals.

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
export type { UpstreamStatus } from "./upstream-failure.js";
export { UpstreamFailureError, upstreamFailure } from "./upstream-failure.js";
