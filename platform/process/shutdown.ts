// What a deployable undoes when it stops, in the reverse order it was set up.
// Each step runs once, and a step that fails is logged and passed over, so one
// stuck resource cannot keep the others open. stopAfterDrain makes the one
// stop() every service returns: drain gRPC, then undo, however often it is called.
import type { Logger } from "../log/index.js";

export interface ShutdownSteps {
  /** Adds a step; the last added runs first. */
  add(step: () => unknown): void;
  /** Adds `resource.close()` as a step, and returns the resource. */
  closing<T extends { close(): unknown }>(resource: T): T;
  /** Runs every step, last added first; later calls wait for the same run. */
  run(): Promise<void>;
}

export function createShutdownSteps(service: string, logger: Logger): ShutdownSteps {
  const steps: Array<() => unknown> = [];
  let ran: Promise<void> | undefined;
  return {
    add(step) {
      steps.push(step);
    },
    closing(resource) {
      steps.push(() => resource.close());
      return resource;
    },
    run() {
      ran ??= (async () => {
        for (const step of [...steps].reverse()) {
          try {
            await step();
          } catch (error) {
            logger.error({ err: error }, `${service} shutdown step failed`);
          }
        }
      })();
      return ran;
    },
  };
}

/** The stop() of a service: drains `server` for up to `drainMs`, then runs the shutdown steps; once, however often called. */
export function stopAfterDrain(server: { drain(graceMs: number): Promise<void> }, drainMs: number, shutdown: ShutdownSteps): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      await server.drain(drainMs);
      await shutdown.run();
    })());
}
