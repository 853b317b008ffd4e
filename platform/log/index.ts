// Structured logging for every service: pino JSON lines with the service name,
// child loggers per call (correlationId), secrets redacted, and one policy for
// the level of per-call lines (callLogLevel).
// Must never: write a secret (authorization, passwords, tokens, card data),
// be a global singleton (main.ts builds one and passes it down), or format
// lines for humans in production (pipe to pino-pretty for that).

export type { CallOutcome } from "./call-log.js";
export { callLogLevel } from "./call-log.js";
export type { CreateLoggerOptions, LogFormat, Logger, LogLevel } from "./logger.js";
export { createLogger, defaultSlowCallMs, logFormats, logLevels, redactedMarker, slowCallMsOf } from "./logger.js";
