import { pathToFileURL } from "node:url";
import { z } from "zod";
import { durationMs, oneOf, parseConfig } from "../config/index.js";
import { createLogger, defaultSlowCallMs, type LogFormat, type Logger, type LogLevel, logFormats } from "../log/index.js";
import { shutdownTelemetry } from "../telemetry/shutdown.js";

// Read here rather than in each service's config: every deployable logs calls the same way.
const loggingEnv = z.object({
  /** Calls and requests lasting at least this long are logged at warn; faster successful ones only at debug. */
  MEL_LOG_SLOW_CALL: durationMs(defaultSlowCallMs),
  /** json (Mel's fields) or ecs (Elastic Common Schema, for Elasticsearch). */
  MEL_LOG_FORMAT: oneOf(logFormats, "json"),
});

/** What a start function hands back: something that drains and releases everything it holds. */
export interface StoppableService {
  stop(): Promise<void>;
}

export interface RunAsMainOptions<Config extends { logLevel: LogLevel }, Running extends StoppableService> {
  /** Service name for log lines ("catalog"). */
  name: string;
  /** Reads the environment; throws with a message naming each bad variable. */
  loadConfig(): Config;
  /** Starts the service with the process's one logger, which runAsMain also uses for start-up and shutdown lines. */
  start(config: Config, logger: Logger): Promise<Running>;
  /** Called once the service is up (e.g. to log its address). */
  started?(running: Running, config: Config): void;
}

/** True when the module at `moduleUrl` (its import.meta.url) is the file node was asked to run. */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && moduleUrl === pathToFileURL(script).href;
}

/**
 * Runs a service as the process: bad configuration exits 2 with the message
 * (which names the variable), a failed start exits 1, and SIGTERM or SIGINT
 * stops the service once (its stop() drains in-flight calls) and exits 0, or 1
 * when stopping fails. A second signal while stopping exits at once, as an
 * impatient Ctrl-C expects. Exit is explicit because a stopped service may
 * still hold timers of libraries it used, and a container must not hang.
 */
export function runAsMain<Config extends { logLevel: LogLevel }, Running extends StoppableService>(options: RunAsMainOptions<Config, Running>): void {
  const { name } = options;
  let config: Config;
  let logging: { MEL_LOG_SLOW_CALL: number; MEL_LOG_FORMAT: LogFormat };
  try {
    config = options.loadConfig();
    logging = parseConfig(loggingEnv, process.env);
  } catch (error) {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ service: name, level: config.logLevel, slowCallMs: logging.MEL_LOG_SLOW_CALL, format: logging.MEL_LOG_FORMAT });
  options.start(config, logger).then(
    (running) => {
      options.started?.(running, config);
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn({ signal }, `${name}: second ${signal} while stopping; exiting now`);
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, `${name} stopping`);
        running
          .stop()
          .then(
            () => 0,
            (error: unknown) => {
              logger.error({ err: error }, `${name} did not stop cleanly`);
              return 1;
            },
          )
          // The last spans and metrics leave before the explicit exit.
          .then(async (code) => {
            await shutdownTelemetry();
            process.exit(code);
          });
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    },
    (error: unknown) => {
      logger.fatal({ err: error }, `${name} failed to start`);
      process.exit(1);
    },
  );
}
