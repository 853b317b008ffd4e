// How a process's gRPC traffic travels: plaintext or mutual TLS, the
// connection age after which servers send clients away to re-resolve, and a
// plaintext health-only port for the kubelet's native gRPC probes (which
// cannot speak TLS). Read from the same MEL_GRPC_* variables by every service
// and the gateway, so one pod's settings look like every other's.
import type { ChannelCredentials, ChannelOptions, ServerCredentials } from "@grpc/grpc-js";
import { ConfigError, durationMs, list, port, text } from "../config/index.js";
import { createGrpcTls, type GrpcTls, type GrpcTlsFiles } from "./tls.js";

/** The variables of a process that only calls gRPC services (the gateway). */
export const grpcClientEnv = {
  /** PEM certificate this process presents; with MEL_GRPC_TLS_KEY and MEL_GRPC_TLS_CA it turns mutual TLS on. */
  MEL_GRPC_TLS_CERT: text().optional(),
  MEL_GRPC_TLS_KEY: text().optional(),
  /** PEM CA bundle every peer's certificate must chain to. */
  MEL_GRPC_TLS_CA: text().optional(),
  /** How often the three files are read again (renewed certificates are taken without a restart). */
  MEL_GRPC_TLS_REFRESH_INTERVAL: durationMs(60_000),
};

/** The variables of a process that serves gRPC (every service), on top of the client ones. */
export const grpcServerEnv = {
  ...grpcClientEnv,
  /** Service names a client certificate must carry (e.g. "gateway,basket"); any certificate from the CA when unset. */
  MEL_GRPC_TLS_ALLOWED_CLIENTS: list([]),
  /** Servers close each connection after this long (GOAWAY), so clients re-resolve and reach new instances. */
  MEL_GRPC_MAX_CONNECTION_AGE: durationMs(5 * 60_000),
  /** Calls still running on a connection past its age may finish for this long (streams such as WatchOrder). */
  MEL_GRPC_MAX_CONNECTION_AGE_GRACE: durationMs(30 * 60_000),
  /** A second, plaintext port that serves only grpc.health.v1 (for probes when mutual TLS is on); none when unset. */
  MEL_GRPC_HEALTH_PORT: port().optional(),
};

type GrpcClientEnv = {
  MEL_GRPC_TLS_CERT?: string | undefined;
  MEL_GRPC_TLS_KEY?: string | undefined;
  MEL_GRPC_TLS_CA?: string | undefined;
  MEL_GRPC_TLS_REFRESH_INTERVAL: number;
};
type GrpcServerEnv = GrpcClientEnv & {
  MEL_GRPC_TLS_ALLOWED_CLIENTS: string[];
  MEL_GRPC_MAX_CONNECTION_AGE: number;
  MEL_GRPC_MAX_CONNECTION_AGE_GRACE: number;
  MEL_GRPC_HEALTH_PORT?: number | undefined;
};

export interface GrpcClientTransportConfig {
  /** Mutual TLS files; plaintext when undefined. */
  tls: GrpcTlsFiles | undefined;
}

export interface GrpcServerTransportConfig extends GrpcClientTransportConfig {
  allowedClients: string[];
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
  healthPort: number | undefined;
}

/** The client transport out of a parsed config that spread grpcClientEnv; ConfigError when only some TLS files are given. */
export function grpcClientTransportFrom(parsed: GrpcClientEnv): GrpcClientTransportConfig {
  const files = { MEL_GRPC_TLS_CERT: parsed.MEL_GRPC_TLS_CERT, MEL_GRPC_TLS_KEY: parsed.MEL_GRPC_TLS_KEY, MEL_GRPC_TLS_CA: parsed.MEL_GRPC_TLS_CA };
  const given = Object.entries(files).filter(([, value]) => value !== undefined);
  if (given.length === 0) return { tls: undefined };
  if (given.length < 3) {
    const missing = Object.keys(files).filter((name) => files[name as keyof typeof files] === undefined);
    const problems = missing.map((name) => `${name}: is required when ${given.map(([name]) => name).join(" and ")} is set (mutual TLS needs all three files)`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`, problems);
  }
  return {
    tls: {
      certFile: files.MEL_GRPC_TLS_CERT as string,
      keyFile: files.MEL_GRPC_TLS_KEY as string,
      caFile: files.MEL_GRPC_TLS_CA as string,
      refreshIntervalMs: parsed.MEL_GRPC_TLS_REFRESH_INTERVAL,
    },
  };
}

/** The server transport out of a parsed config that spread grpcServerEnv. */
export function grpcServerTransportFrom(parsed: GrpcServerEnv): GrpcServerTransportConfig {
  return {
    ...grpcClientTransportFrom(parsed),
    allowedClients: parsed.MEL_GRPC_TLS_ALLOWED_CLIENTS,
    maxConnectionAgeMs: parsed.MEL_GRPC_MAX_CONNECTION_AGE,
    maxConnectionAgeGraceMs: parsed.MEL_GRPC_MAX_CONNECTION_AGE_GRACE,
    healthPort: parsed.MEL_GRPC_HEALTH_PORT,
  };
}

export interface GrpcTransport {
  /** What createClient / createGenericClient take to reach `upstreams` ("catalog"): the server's certificate must name one of them. */
  clientOptions(...upstreams: string[]): { credentials?: ChannelCredentials };
}

export interface GrpcServerTransport extends GrpcTransport {
  /** What createGrpcServer takes: credentials, connection age, health port. */
  serverOptions: { credentials?: ServerCredentials; channelOptions: ChannelOptions; healthPort?: number };
}

/** The credentials of a process that only calls services; built once in main.ts. */
export function createGrpcClientTransport(config: GrpcClientTransportConfig): GrpcTransport {
  const tls = config.tls === undefined ? undefined : createGrpcTls(config.tls);
  return { clientOptions: (...upstreams) => clientOptionsOf(tls, upstreams) };
}

/** The credentials and server options of a service; built once in main.ts. */
export function createGrpcServerTransport(config: GrpcServerTransportConfig): GrpcServerTransport {
  const tls = config.tls === undefined ? undefined : createGrpcTls(config.tls);
  return {
    clientOptions: (...upstreams) => clientOptionsOf(tls, upstreams),
    serverOptions: {
      ...(tls === undefined ? {} : { credentials: tls.serverCredentials(config.allowedClients) }),
      channelOptions: {
        "grpc.max_connection_age_ms": config.maxConnectionAgeMs,
        "grpc.max_connection_age_grace_ms": config.maxConnectionAgeGraceMs,
      },
      ...(config.healthPort === undefined ? {} : { healthPort: config.healthPort }),
    },
  };
}

function clientOptionsOf(tls: GrpcTls | undefined, upstreams: string[]): { credentials?: ChannelCredentials } {
  return tls === undefined ? {} : { credentials: tls.clientCredentials(upstreams) };
}
