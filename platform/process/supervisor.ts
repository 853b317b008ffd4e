// Keeps a set of child processes running, as `npm start` needs for the mesh:
// a part that dies is started again after a back-off (doubling from 250 ms to
// 10 s, back to the start once the part has stayed up for 30 s), while the
// others keep serving. A part that dies too often within a window (5 times in
// 60 s), or exits 2 (its configuration is invalid, so a restart would fail
// the same way), is given up on at error level, naming the part and how it
// last ended, and the whole mesh stops with a non-zero code: a crash loop must
// be seen, not retried forever behind a healthy-looking launcher.
// stop() drains every part (SIGTERM, then SIGKILL past a timeout) and restarts
// nothing once it has begun.
// Hand-written: process managers (pm2, forever) are daemons of their own with
// their own CLIs and state; the mesh needs a few timers around child_process.
import type { ChildProcess } from "node:child_process";
import type { Logger } from "../log/index.js";

/** The exit code runAsMain uses for invalid configuration. */
export const configurationErrorExitCode = 2;

export interface RestartPolicyOptions {
  /** Wait before the first restart after a death; doubled per consecutive death. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A part that ran this long before dying starts its back-off from initialDelayMs again. */
  stableAfterMs: number;
  /** This many deaths of one part within deathWindowMs make the supervisor give up. */
  maxDeaths: number;
  deathWindowMs: number;
}

export const defaultRestartPolicy: RestartPolicyOptions = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  stableAfterMs: 30_000,
  maxDeaths: 5,
  deathWindowMs: 60_000,
};

export type RestartDecision = { restartInMs: number } | { giveUp: { deaths: number; windowMs: number } };

export interface RestartPolicy {
  /** The part's process started at `at` (ms). */
  started(at: number): void;
  /** The part's process died at `at` (ms): when to start it again, or to give up. */
  died(at: number): RestartDecision;
}

/** The back-off and crash-loop rule for one part; times are passed in, so it holds no clock of its own. */
export function createRestartPolicy(options: RestartPolicyOptions = defaultRestartPolicy): RestartPolicy {
  let startedAt: number | undefined;
  let consecutive = 0;
  let deaths: number[] = [];
  return {
    started(at) {
      startedAt = at;
    },
    died(at) {
      if (startedAt !== undefined && at - startedAt >= options.stableAfterMs) consecutive = 0;
      deaths = [...deaths.filter((death) => at - death < options.deathWindowMs), at];
      if (deaths.length >= options.maxDeaths) return { giveUp: { deaths: deaths.length, windowMs: options.deathWindowMs } };
      const restartInMs = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** consecutive);
      consecutive += 1;
      return { restartInMs };
    },
  };
}

export interface SupervisedPart {
  /** Short name for log lines ("catalog"). */
  name: string;
  /** Starts the part's process; called again for every restart. */
  start(): ChildProcess;
  /** Stopped only after every other part has exited (a store the others still write to while they drain). */
  stopsLast?: boolean;
}

export interface SupervisorOptions {
  logger: Logger;
  policy?: Partial<RestartPolicyOptions>;
  /** How long each group of parts may drain after SIGTERM before it is killed. */
  stopTimeoutMs?: number;
}

export interface Supervisor {
  /** Starts a part and keeps it running. */
  add(part: SupervisedPart): void;
  /** The pid of each running part. */
  pids(): Record<string, number>;
  /** Stops every part, restarting none; resolves once they are gone. Later calls wait for the same stop. */
  stop(): Promise<void>;
  /** Resolves with the exit code for the launcher once everything stopped: 0 after stop(), non-zero after giving up on a part. */
  readonly stopped: Promise<number>;
}

interface PartState {
  part: SupervisedPart;
  policy: RestartPolicy;
  child: ChildProcess | undefined;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
}

function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code ?? "none"}`;
}

export function createSupervisor({ logger, policy, stopTimeoutMs = 15_000 }: SupervisorOptions): Supervisor {
  const restartPolicy = { ...defaultRestartPolicy, ...policy };
  const parts = new Map<string, PartState>();
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  let reportStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => {
    reportStopped = resolve;
  });

  function launch(state: PartState, restart: boolean): void {
    const { name } = state.part;
    const child = state.part.start();
    state.child = child;
    state.policy.started(Date.now());
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      if (state.child === child) state.child = undefined;
      if (!stopping) died(state, code, signal, error);
    };
    child.once("exit", (code, signal) => onEnd(code, signal));
    // A process that could not be spawned (missing binary) emits only "error".
    child.once("error", (error) => {
      if (child.pid === undefined) onEnd(null, null, error);
      else logger.warn({ part: name, err: error }, `${name}: process error`);
    });
    if (child.pid !== undefined) logger.info({ part: name, pid: child.pid }, restart ? `${name} restarted` : `${name} started`);
  }

  function died(state: PartState, code: number | null, signal: NodeJS.Signals | null, error: Error | undefined): void {
    const { name } = state.part;
    const fields = { part: name, code, signal, ...(error ? { err: error } : {}) };
    if (code === configurationErrorExitCode) {
      logger.error(fields, `${name} exited with code 2: its configuration is invalid (its message is above); not restarting it, stopping the mesh`);
      giveUp(configurationErrorExitCode);
      return;
    }
    const decision = state.policy.died(Date.now());
    if ("giveUp" in decision) {
      const { deaths, windowMs } = decision.giveUp;
      logger.error(
        { ...fields, deaths, windowMs },
        `${name} died ${deaths} times within ${windowMs / 1000} s (last: ${describeEnd(code, signal)}); giving up on it, stopping the mesh`,
      );
      giveUp(1);
      return;
    }
    logger.warn({ ...fields, restartInMs: decision.restartInMs }, `${name} died (${describeEnd(code, signal)}); restarting it in ${decision.restartInMs} ms`);
    state.restartTimer = setTimeout(() => {
      state.restartTimer = undefined;
      if (!stopping) launch(state, true);
    }, decision.restartInMs);
  }

  function giveUp(code: number): void {
    exitCode = code;
    void stop();
  }

  async function drain(states: PartState[]): Promise<void> {
    const running = states.flatMap(({ part, child }) => (child ? [{ name: part.name, child }] : []));
    const exits = running.map(
      ({ name, child }) =>
        new Promise<void>((done) => {
          const stopped = (code: number | null, signal: NodeJS.Signals | null) => {
            const fields = { part: name, code, signal };
            if (code === 0) logger.info(fields, `${name} stopped (${describeEnd(code, signal)})`);
            else logger.warn(fields, `${name} stopped (${describeEnd(code, signal)})`);
            done();
          };
          if (child.exitCode !== null || child.signalCode !== null) stopped(child.exitCode, child.signalCode);
          else child.once("exit", stopped);
        }),
    );
    for (const { child } of running) child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((done) => {
      timer = setTimeout(() => done(true), stopTimeoutMs);
    });
    const late = await Promise.race([Promise.all(exits).then(() => false), timedOut]);
    clearTimeout(timer);
    if (!late) return;
    for (const { name, child } of running) {
      if (child.exitCode === null && child.signalCode === null) {
        logger.warn({ part: name, pid: child.pid }, `${name} did not stop within ${stopTimeoutMs} ms; killing it`);
        child.kill("SIGKILL");
      }
    }
    await Promise.all(exits);
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      logger.info("stopping: draining every part");
      const states = [...parts.values()];
      for (const state of states) clearTimeout(state.restartTimer);
      // Parts first, then the stores they use, so they can finish their writes while draining.
      await drain(states.filter((state) => !state.part.stopsLast));
      await drain(states.filter((state) => state.part.stopsLast));
      logger.info("every part stopped");
      reportStopped(exitCode);
    })();
    return stopping;
  }

  return {
    add(part) {
      if (parts.has(part.name)) throw new Error(`a part named ${part.name} is already supervised`);
      if (stopping) return;
      const state: PartState = { part, policy: createRestartPolicy(restartPolicy), child: undefined, restartTimer: undefined };
      parts.set(part.name, state);
      launch(state, false);
    },
    pids() {
      const pids: Record<string, number> = {};
      for (const [name, state] of parts) if (state.child?.pid !== undefined) pids[name] = state.child.pid;
      return pids;
    },
    stop,
    stopped,
  };
}
