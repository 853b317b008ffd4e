// The one hook between the telemetry set up by register.ts and the process
// code that exits (runAsMain): exits are explicit, so buffered spans and the
// last metrics must be handed over before process.exit.
let shutdown: (() => Promise<void>) | undefined;

/** Called once by register.ts with the SDK's shutdown. */
export function registerTelemetryShutdown(stop: () => Promise<void>): void {
  shutdown = stop;
}

/**
 * Exports what the SDK still holds and stops it; a no-op without telemetry.
 * Never rejects and gives up after `timeoutMs`, so an unreachable collector
 * cannot hold a stopping process.
 */
export async function shutdownTelemetry(timeoutMs = 2000): Promise<void> {
  const stop = shutdown;
  shutdown = undefined;
  if (!stop) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([stop().catch(() => undefined), new Promise<void>((done) => (timer = setTimeout(done, timeoutMs)))]);
  clearTimeout(timer);
}
