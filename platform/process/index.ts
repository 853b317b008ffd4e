// The process around a deployable: what `node dist/services/<name>/main.js`
// does before and after the service itself runs.
// Must never: hold business rules, or keep a process alive after its service
// has stopped.

export type { RunAsMainOptions, StoppableService } from "./run-as-main.js";
export { isEntryPoint, runAsMain } from "./run-as-main.js";
export type { ShutdownSteps } from "./shutdown.js";
export { createShutdownSteps, stopAfterDrain } from "./shutdown.js";
export type { RestartPolicyOptions, SupervisedPart, Supervisor, SupervisorOptions } from "./supervisor.js";
export { createSupervisor, defaultRestartPolicy } from "./supervisor.js";
export type { WakeableLoop, WakeableLoopOptions } from "./wakeable-loop.js";
export { backOff, createWakeableLoop } from "./wakeable-loop.js";
