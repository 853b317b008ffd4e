// The one way services log: pino JSON lines carrying the service name, with
// secrets removed before a line is written.
import { ecsFormat } from "@elastic/ecs-pino-format";
import { type DestinationStream, type Level, type Logger as PinoLogger, pino } from "pino";
import { traceFields } from "../telemetry/trace-context.js";

export type Logger = PinoLogger;
export type LogLevel = Level | "silent";
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LogLevel[];

/** `json`: Mel's own fields (service, level, msg, time); `ecs`: Elastic Common Schema, for Elasticsearch and Kibana. */
export type LogFormat = "json" | "ecs";
export const logFormats = ["json", "ecs"] as const satisfies readonly LogFormat[];

/** What replaces a secret in a log line. */
export const redactedMarker = "[redacted]";

// Field names whose values are secrets wherever they appear: credentials,
// tokens (proto snake_case and ts-proto camelCase spellings) and card data
// (mel.common.v1.PaymentCard: number, security_code).
const secretKeys = new Set([
  "authorization",
  "cookie",
  "password",
  "newPassword",
  "new_password",
  "currentPassword",
  "current_password",
  "passwordHash",
  "password_hash",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "idToken",
  "id_token",
  "paymentToken",
  "payment_token",
  "privateKey",
  "private_key",
  "securityCode",
  "security_code",
  "cvv",
  "cardNumber",
  "card_number",
]);
// A card's number is only a secret under a card, not every "number" field.
const cardKeys = new Set(["card", "paymentCard", "payment_card"]);
// Deeper than any log object in practice; a cycle stops here instead of looping.
const maxDepth = 8;

export interface CreateLoggerOptions {
  /** The service or process name, written as `service` on every line. */
  service: string;
  level?: LogLevel;
  /** Where lines go (stdout by default, written asynchronously); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Calls and requests lasting at least this long are logged as slow (see callLogLevel). Default 500 ms. */
  slowCallMs?: number;
  /** Default json. */
  format?: LogFormat;
}

/**
 * A JSON logger whose lines carry `service`, ISO timestamps and redacted
 * secrets. Use `logger.child({ correlationId })` for per-call loggers; gRPC
 * Metadata objects logged under any key are written as plain maps and their
 * `authorization` is redacted like any other field.
 *
 * Secrets are found by key at any depth of the logged object, so the cost is
 * the size of what is logged rather than a list of wildcard paths tried on
 * every line. Lines go to stdout through pino's asynchronous destination,
 * which pino flushes synchronously when the process exits (process.exit
 * included), so no line is lost to runAsMain's explicit exit.
 */
export function createLogger({ service, level = "info", destination, slowCallMs = defaultSlowCallMs, format = "json" }: CreateLoggerOptions): Logger {
  const options: pino.LoggerOptions =
    format === "ecs"
      ? ecsOptions(service, level)
      : {
          level,
          base: { service },
          timestamp: pino.stdTimeFunctions.isoTime,
          // trace_id and span_id of the active span, so a line can be found from its trace and back.
          mixin: traceFields,
          formatters: { level: (label) => ({ level: label }), log: (object) => redactSecrets(object, 0) as Record<string, unknown> },
          serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
        };
  const logger = pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
  slowCallThresholds.set(logger, slowCallMs);
  return logger;
}

/**
 * Elastic Common Schema lines (@timestamp, log.level, message, service.name,
 * error.*, trace.id and span.id), secrets redacted as in the json format.
 */
function ecsOptions(service: string, level: LogLevel): pino.LoggerOptions {
  const ecs = ecsFormat({ serviceName: service, apmIntegration: false, convertErr: true });
  const ecsLog = ecs.formatters?.log ?? ((object: Record<string, unknown>) => object);
  return {
    ...ecs,
    level,
    base: {},
    mixin: () => {
      const fields = traceFields();
      return fields.trace_id ? { "trace.id": fields.trace_id, "span.id": fields.span_id } : {};
    },
    formatters: { ...ecs.formatters, log: (object) => ecsLog(redactSecrets(object, 0) as Record<string, unknown>) },
    // ECS turns the Error itself into error.type, error.message and error.stack_trace; pino's serializer would hand it a plain copy.
    serializers: { err: (error: unknown) => error, error: (error: unknown) => error },
  };
}

/** The threshold a logger was made with (createLogger's slowCallMs), the default for any other logger. */
export function slowCallMsOf(logger: Logger): number {
  return slowCallThresholds.get(logger) ?? defaultSlowCallMs;
}

export const defaultSlowCallMs = 500;
const slowCallThresholds = new WeakMap<Logger, number>();

/**
 * `value` with every secret replaced by redactedMarker; objects holding a
 * secret are copied, never changed in place (they may be the caller's own).
 */
function redactSecrets(value: unknown, depth: number, underCard = false): unknown {
  if (typeof value !== "object" || value === null || depth > maxDepth) return value;
  if (Array.isArray(value)) {
    const redacted = value.map((entry) => redactSecrets(entry, depth + 1));
    return redacted.some((entry, index) => entry !== value[index]) ? redacted : value;
  }
  const plain = metadataAsMap(value) ?? value;
  const prototype = Object.getPrototypeOf(plain);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined = plain === value ? undefined : { ...(plain as Record<string, unknown>) };
  for (const [key, entry] of Object.entries(plain as Record<string, unknown>)) {
    const secret = secretKeys.has(key) || (underCard && key === "number");
    const redacted = secret ? redactedMarker : redactSecrets(entry, depth + 1, cardKeys.has(key));
    if (redacted === entry) continue;
    copy ??= { ...(plain as Record<string, unknown>) };
    copy[key] = redacted;
  }
  return copy ?? value;
}

/** A grpc-js Metadata (anything with getMap) as a plain object, binary values as their length; undefined for anything else. */
function metadataAsMap(value: object): Record<string, unknown> | undefined {
  if (!("getMap" in value) || typeof value.getMap !== "function") return undefined;
  const map: Record<string, unknown> = { ...(value.getMap() as Record<string, unknown>) };
  for (const [key, entry] of Object.entries(map)) {
    if (Buffer.isBuffer(entry)) map[key] = `<${entry.length} bytes>`;
  }
  return map;
}
