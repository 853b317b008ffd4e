// The one way services log: pino JSON lines carrying the service name, with
// secrets removed before a line is written.
import { type DestinationStream, type Level, type Logger as PinoLogger, pino } from "pino";

export type Logger = PinoLogger;
export type LogLevel = Level | "silent";
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LogLevel[];

/** What replaces a secret in a log line. */
export const redactedMarker = "[redacted]";

// Field names whose values are secrets wherever they appear: credentials,
// tokens (proto snake_case and ts-proto camelCase spellings) and card data
// (mel.common.v1.PaymentCard: number, security_code).
const secretKeys = [
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
];
// A card's number is only a secret under a card, not every "number" field.
const cardNumberPaths = ["card.number", "*.card.number", "*.*.card.number", "paymentCard.number", "*.paymentCard.number"];

// pino (fast-redact) wildcards match exactly one level, so each key is listed
// at the depths log objects reach in practice: top level, and nested up to
// three levels (e.g. { request: { card: { securityCode } } }).
const redactPaths = [...secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]), ...cardNumberPaths];

export interface CreateLoggerOptions {
  /** The service or process name, written as `service` on every line. */
  service: string;
  level?: LogLevel;
  /** Where lines go (stdout by default); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/**
 * A JSON logger whose lines carry `service`, ISO timestamps and redacted
 * secrets. Use `logger.child({ correlationId })` for per-call loggers; gRPC
 * Metadata objects logged under `metadata` are written as plain maps and
 * their `authorization` is redacted like any other field.
 */
export function createLogger({ service, level = "info", destination }: CreateLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: redactPaths, censor: redactedMarker },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err, metadata: serializeMetadata },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A grpc-js Metadata (anything with getMap) becomes a plain object so redaction can see its keys. */
function serializeMetadata(value: unknown): unknown {
  if (typeof value === "object" && value !== null && "getMap" in value && typeof value.getMap === "function") {
    const map: Record<string, unknown> = { ...(value.getMap() as Record<string, unknown>) };
    for (const [key, entry] of Object.entries(map)) {
      if (Buffer.isBuffer(entry)) map[key] = `<${entry.length} bytes>`;
    }
    return map;
  }
  return value;
}
