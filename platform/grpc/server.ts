// createGrpcServer: the grpc-js server every service runs, with health
// checking, reflection and graceful drain built in.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type ChannelOptions, Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Logger } from "../log/index.js";
import { serviceNameOf } from "./implement-service.js";
import { passThroughRequests } from "./request-decoding.js";

// gen/descriptor.binpb sits two folders up both in the source tree and in
// dist/ (npm run build copies it there).
export const defaultDescriptorSetPath = resolve(dirname(fileURLToPath(import.meta.url)), "../../gen/descriptor.binpb");

export interface CreateGrpcServerOptions {
  /** Short name for logs ("catalog"). */
  serviceName: string;
  logger: Logger;
  /** Descriptor set (with imports) behind reflection; gen/descriptor.binpb by default. */
  descriptorSetPath?: string;
  /** Extra grpc-js server options (max message sizes, keepalive, max_connection_age_ms…). */
  channelOptions?: ChannelOptions;
  /** Mutual TLS (platform/grpc transport); plaintext when omitted. */
  credentials?: ServerCredentials;
  /**
   * A second, plaintext port that serves only grpc.health.v1 with the same
   * statuses: the kubelet's native gRPC probes cannot speak TLS.
   */
  healthPort?: number;
}

export interface GrpcServer {
  /** The underlying grpc-js server, for what this wrapper does not cover. */
  readonly server: Server;
  /** Serves `implementation` (from implementService, which decodes its requests) and reports it SERVING on health checks. */
  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void;
  /** Binds host:port (0 = any free port), resolves with the bound port. Call after addService. */
  listen(host: string, port: number): Promise<number>;
  /** The bound plaintext health-only port, once listening with `healthPort` set. */
  healthPort(): number | undefined;
  /** Sets one service's health status ("" is the whole server). */
  setServingStatus(service: string, status: ServingStatus): void;
  /**
   * Keeps health NOT_SERVING after listen() until `condition` resolves: for
   * what the instance needs before its calls can succeed, so readiness probes
   * and the gateway send it no traffic meanwhile. Call before listen().
   */
  readyWhen(condition: Promise<void>, what: string): void;
  /**
   * Graceful stop: health turns NOT_SERVING, new calls are refused, in-flight
   * calls may finish for up to `graceMs`, then the rest are cancelled.
   * Resolves once the server is down. Calling it twice returns the same promise.
   */
  drain(graceMs: number): Promise<void>;
}

/**
 * A grpc-js server with grpc.health.v1 health (per service, "" for the whole
 * server) and server reflection (v1 and v1alpha) over the services added, so
 * `grpcurl` and `buf curl --reflect` can list and describe them.
 */
export function createGrpcServer(options: CreateGrpcServerOptions): GrpcServer {
  const { serviceName, logger } = options;
  // Channelz stays on (grpc-js's default) although nothing reads it: grpc-js
  // 1.14 tracks a server's sessions only with channelz on, and without them
  // forceShutdown() cancels no call, so drain() would wait on stuck calls.
  const server = new Server(options.channelOptions);
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  health.addToServer(server);
  const healthServer = options.healthPort === undefined ? undefined : new Server();
  if (healthServer) health.addToServer(healthServer);
  const servedNames: string[] = [];
  let descriptors: PackageDefinition | undefined;
  let listening = false;
  let draining: Promise<void> | undefined;
  let boundHealthPort: number | undefined;
  const readiness: Array<{ condition: Promise<void>; what: string }> = [];

  const setServingStatus = (service: string, status: ServingStatus) => health.setStatus(service, status);

  const addService: GrpcServer["addService"] = (definition, implementation) => {
    if (listening) throw new Error(`${serviceName}: add services before listen()`);
    const name = serviceNameOf(definition);
    // implementService decodes each request itself, so grpc-js hands it the raw bytes.
    server.addService(passThroughRequests(definition, implementation), implementation);
    servedNames.push(name);
    health.setStatus(name, "NOT_SERVING");
  };

  const readyWhen: GrpcServer["readyWhen"] = (condition, what) => {
    if (listening) throw new Error(`${serviceName}: call readyWhen() before listen(), not after`);
    // Handled here, not only once listen() waits on it: a condition that fails
    // before listen() would otherwise be an unhandled rejection. listen() still
    // sees the failure and logs it.
    condition.catch(() => undefined);
    readiness.push({ condition, what });
  };

  /** SERVING once every readiness condition holds, unless the server is draining by then. */
  function reportServingWhenReady(): void {
    const serving = () => {
      if (draining) return;
      for (const name of ["", ...servedNames]) health.setStatus(name, "SERVING");
    };
    if (readiness.length === 0) {
      serving();
      return;
    }
    const waitingFor = readiness.map(({ what }) => what);
    logger.info({ waitingFor }, `${serviceName} listens, but reports NOT_SERVING until ${waitingFor.join(" and ")}`);
    Promise.all(readiness.map(({ condition }) => condition)).then(
      () => {
        serving();
        if (!draining) logger.info(`${serviceName} ready: health reports SERVING`);
      },
      (error: unknown) => logger.error({ err: error }, `${serviceName} stays NOT_SERVING: a readiness condition failed`),
    );
  }

  const listen: GrpcServer["listen"] = async (host, port) => {
    if (servedNames.length === 0) throw new Error(`${serviceName}: no service added before listen()`);
    descriptors ??= loadDescriptors(options.descriptorSetPath ?? defaultDescriptorSetPath);
    // Reflection lists only what this server serves, not every service in the descriptor set.
    new ReflectionService(descriptors as ConstructorParameters<typeof ReflectionService>[0], { services: servedNames }).addToServer(server);
    const boundPort = await bind(serviceName, server, host, port, options.credentials ?? ServerCredentials.createInsecure());
    boundHealthPort = healthServer && (await bind(serviceName, healthServer, host, options.healthPort ?? 0, ServerCredentials.createInsecure()));
    listening = true;
    logger.info(
      {
        address: `${host}:${boundPort}`,
        services: servedNames,
        tls: options.credentials !== undefined,
        ...(boundHealthPort ? { healthPort: boundHealthPort } : {}),
      },
      `${serviceName} listening`,
    );
    reportServingWhenReady();
    return boundPort;
  };

  const drain: GrpcServer["drain"] = (graceMs) => {
    draining ??= new Promise<void>((resolveDrain) => {
      for (const name of ["", ...servedNames]) health.setStatus(name, "NOT_SERVING");
      logger.info({ graceMs }, `${serviceName} draining`);
      const force = setTimeout(() => {
        logger.warn({ graceMs }, `${serviceName}: calls still running after the grace period are cancelled`);
        server.forceShutdown();
      }, graceMs);
      // Probes see NOT_SERVING on the health port until the main server is down.
      server.tryShutdown((error) => {
        clearTimeout(force);
        healthServer?.forceShutdown();
        if (error) logger.warn({ err: error }, `${serviceName}: shutdown reported an error`);
        logger.info(`${serviceName} stopped`);
        resolveDrain();
      });
    });
    return draining;
  };

  return { server, addService, listen, healthPort: () => boundHealthPort, setServingStatus, readyWhen, drain };
}

function bind(serviceName: string, server: Server, host: string, port: number, credentials: ServerCredentials): Promise<number> {
  const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise<number>((resolveBind, rejectBind) => {
    server.bindAsync(address, credentials, (error, bound) =>
      error ? rejectBind(new Error(`${serviceName}: cannot listen on ${address}: ${error.message}`)) : resolveBind(bound),
    );
  });
}

function loadDescriptors(path: string): PackageDefinition {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error: unknown) {
    throw new Error(`cannot read the descriptor set for reflection at ${path} (run npm run gen): ${(error as Error).message}`);
  }
  const definition = loadFileDescriptorSetFromBuffer(bytes, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  // proto-loader hands reflection file descriptors it rebuilt from protobufjs,
  // which lose their import lists and merge files of one package; clients such
  // as buf curl and grpcurl then cannot link them. The original files from the
  // descriptor set are handed over instead (reflection reads only these bytes).
  const originalFiles = fileDescriptorsOf(bytes);
  return Object.fromEntries(
    Object.entries(definition).map(([name, entry]) =>
      "fileDescriptorProtos" in entry ? [name, { ...entry, fileDescriptorProtos: originalFiles }] : [name, entry],
    ),
  ) as PackageDefinition;
}

/** The encoded FileDescriptorProtos of a FileDescriptorSet (field 1, repeated), byte for byte. */
function fileDescriptorsOf(descriptorSet: Uint8Array): Buffer[] {
  const reader = new BinaryReader(descriptorSet);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}
