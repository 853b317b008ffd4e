// The process's telemetry, loaded before anything else with
//   node --import ./dist/platform/telemetry/register.js dist/services/<name>/main.js
// (from source: node --import tsx --import ./platform/telemetry/register.ts …).
// Instrumentations patch grpc-js, pg, fastify and the MongoDB driver as they
// are loaded, so this must run before the service's own imports: the ESM
// loader hook below lets them patch packages that Mel imports as ES modules.
// Service code never imports this file.
import { register } from "node:module";
import { basename, dirname } from "node:path";
import { metricsPortFromEnv, partOfEntryPoint } from "./metrics-config.js";
import { exportsTraces, startTelemetry } from "./sdk.js";
import { registerTelemetryShutdown } from "./shutdown.js";

// The hook wraps every ES module as it loads; only the trace instrumentations
// need it, so a process that exports no traces does not pay for it.
if (exportsTraces(process.env)) register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);

const entry = process.argv[1] ?? "";
// services/catalog/main.js → catalog; gateway/main.js → gateway.
const part = partOfEntryPoint(entry) ?? basename(dirname(entry));
const telemetry = await startTelemetry({ serviceName: part, metricsPort: metricsPortFromEnv(part) });
// runAsMain exits explicitly, and an exit hook cannot await: it calls shutdownTelemetry before exiting.
registerTelemetryShutdown(() => telemetry.shutdown());
