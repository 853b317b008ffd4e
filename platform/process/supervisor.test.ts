// The supervisor's restart rule on its own (times passed in), then the
// supervisor around real node child processes with node:test's mock timers
// (setTimeout and Date): back-offs elapse by mock.timers.tick, never by
// sleeping, and each step waits on the log line or exit event it is about.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { createLogger } from "../log/index.js";
import { createRestartPolicy, createSupervisor, defaultRestartPolicy, type Supervisor } from "./supervisor.js";

describe("restart policy", () => {
  it("doubles the wait per consecutive death, from 250 ms up to the 10 s cap", () => {
    const policy = createRestartPolicy({ ...defaultRestartPolicy, maxDeaths: 100 });
    const waits: number[] = [];
    let now = 0;
    for (let death = 0; death < 8; death++) {
      policy.started(now);
      now += 100;
      const decision = policy.died(now);
      assert.ok("restartInMs" in decision, JSON.stringify(decision));
      waits.push(decision.restartInMs);
      now += decision.restartInMs;
    }
    assert.deepEqual(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it("starts the back-off from 250 ms again once the part stayed up for 30 s", () => {
    const policy = createRestartPolicy();
    policy.started(0);
    assert.deepEqual(policy.died(10), { restartInMs: 250 });
    policy.started(260);
    assert.deepEqual(policy.died(270), { restartInMs: 500 });
    policy.started(770);
    assert.deepEqual(policy.died(770 + 29_999), { restartInMs: 1000 }, "up just under 30 s: still backing off");
    policy.started(40_000);
    assert.deepEqual(policy.died(70_000), { restartInMs: 250 }, "up 30 s: a fresh start");
  });

  it("gives up on the fifth death within 60 s", () => {
    const policy = createRestartPolicy();
    const decisions = [0, 1000, 2000, 3000, 59_999].map((at) => {
      policy.started(at - 1);
      return policy.died(at);
    });
    assert.deepEqual(decisions.slice(0, 4), [{ restartInMs: 250 }, { restartInMs: 500 }, { restartInMs: 1000 }, { restartInMs: 2000 }]);
    assert.deepEqual(decisions[4], { giveUp: { deaths: 5, windowMs: 60_000 } });
  });

  it("does not give up while fewer than five deaths fall within any 60 s", () => {
    const policy = createRestartPolicy();
    // One death every 15.001 s: four in any 60 s.
    const decisions = Array.from({ length: 8 }, (_, index) => index * 15_001).map((at) => {
      policy.started(at - 1);
      return policy.died(at);
    });
    assert.ok(
      decisions.every((decision) => "restartInMs" in decision),
      JSON.stringify(decisions),
    );
  });
});

/** A node child process: `script` runs as its program; "ready" on stdout once its signal handlers are set. */
function nodeProcess(script: string): ChildProcess {
  return spawn(process.execPath, ["-e", `${script}; process.stdout.write("ready\\n")`], { stdio: ["ignore", "pipe", "inherit"] });
}
/** Drains on SIGTERM (exits 0), as a service under runAsMain does. */
const serving = `process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1 << 30)`;

interface Line {
  level: string;
  msg: string;
  part?: string;
  pid?: number;
  code?: number | null;
  signal?: string | null;
  restartInMs?: number;
}

/** A supervisor whose log lines the test reads, and whose parts' processes the test can wait for. */
function supervised() {
  const lines: Line[] = [];
  const waiters: Array<{ match: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
  const logger = createLogger({
    service: "launcher",
    level: "info",
    destination: {
      write(raw: string) {
        const line = JSON.parse(raw) as Line;
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (waiter.match(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      },
    },
  });
  const supervisor: Supervisor = createSupervisor({ logger, stopTimeoutMs: 5000 });
  const children: ChildProcess[] = [];
  return {
    supervisor,
    lines,
    /** The next line (from now on) matching `msg`. */
    nextLine(msg: string): Promise<Line> {
      return new Promise((resolve) => waiters.push({ match: (line) => line.msg === msg, resolve }));
    },
    /** A part start function that records every process it makes. */
    starting(script: string): () => ChildProcess {
      return () => {
        const child = nodeProcess(script);
        children.push(child);
        return child;
      };
    },
    children,
    /** The process started first. */
    firstChild(): ChildProcess {
      const [child] = children;
      if (!child) throw new Error("no part has been started");
      return child;
    },
    /** The pid of the running part `name`. */
    pidOf(name: string): number {
      const pid = supervisor.pids()[name];
      if (pid === undefined) throw new Error(`${name} is not running`);
      return pid;
    },
    /** Resolves once `child` said it is ready (its handlers are in place). */
    ready(child: ChildProcess): Promise<void> {
      return new Promise((resolve) => child.stdout?.once("data", () => resolve()));
    },
    async cleanUp() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

describe("supervisor", { timeout: 20_000 }, () => {
  let harness: ReturnType<typeof supervised>;

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    harness = supervised();
  });

  afterEach(async () => {
    mock.timers.reset();
    await harness.cleanUp();
  });

  it("restarts a killed part after the back-off, leaving the other parts' processes alone", async () => {
    const { supervisor, nextLine } = harness;
    supervisor.add({ name: "catalog", start: harness.starting(serving) });
    supervisor.add({ name: "basket", start: harness.starting(serving) });
    const before = supervisor.pids();

    const died = nextLine("basket died (killed by SIGKILL); restarting it in 250 ms");
    process.kill(harness.pidOf("basket"), "SIGKILL");
    const { level, part, code, signal, restartInMs } = await died;
    assert.deepEqual({ level, part, code, signal, restartInMs }, { level: "warn", part: "basket", code: null, signal: "SIGKILL", restartInMs: 250 });
    assert.equal(supervisor.pids().basket, undefined);

    const restarted = nextLine("basket restarted");
    mock.timers.tick(249);
    assert.equal(supervisor.pids().basket, undefined, "not restarted before the back-off ends");
    mock.timers.tick(1);
    const line = await restarted;
    const after = supervisor.pids();
    assert.equal(line.pid, after.basket);
    assert.notEqual(after.basket, before.basket);
    assert.equal(after.catalog, before.catalog);

    await supervisor.stop();
    assert.equal(await supervisor.stopped, 0);
  });

  it("gives up on a part after its fifth fast death: logs at error with its last exit, stops the others, exits 1", async () => {
    const { supervisor, nextLine } = harness;
    const deaths: Line[] = [];
    supervisor.add({ name: "identity", start: harness.starting(serving) });
    const identity = harness.firstChild();
    await harness.ready(identity);
    let died = nextLine("ordering died (exit code 3); restarting it in 250 ms");
    supervisor.add({ name: "ordering", start: harness.starting("process.exit(3)") });
    for (const wait of [250, 500, 1000, 2000]) {
      const line = await died;
      deaths.push(line);
      died = nextLine(`ordering died (exit code 3); restarting it in ${wait * 2} ms`);
      mock.timers.tick(wait);
    }
    const givenUp = await nextLine("ordering died 5 times within 60 s (last: exit code 3); giving up on it, stopping the mesh");
    assert.deepEqual(
      deaths.map((line) => line.restartInMs),
      [250, 500, 1000, 2000],
    );
    assert.equal(givenUp.level, "error");
    assert.equal(givenUp.part, "ordering");
    assert.equal(givenUp.code, 3);
    assert.equal(await supervisor.stopped, 1);
    assert.deepEqual(await exitOf(identity), { code: 0, signal: null }, "the other part was drained");
    assert.equal(harness.children.length, 6, "identity once, ordering five times");
  });

  it("does not restart a part that exits 2 (invalid configuration) and stops the mesh with 2", async () => {
    const { supervisor, nextLine } = harness;
    supervisor.add({ name: "catalog", start: harness.starting(serving) });
    const catalog = harness.firstChild();
    await harness.ready(catalog);
    const refused = nextLine("gateway exited with code 2: its configuration is invalid (its message is above); not restarting it, stopping the mesh");
    supervisor.add({ name: "gateway", start: harness.starting("process.exit(2)") });
    const line = await refused;
    assert.equal(line.level, "error");
    assert.equal(line.part, "gateway");
    assert.equal(await supervisor.stopped, 2);
    mock.timers.tick(60_000);
    assert.equal(harness.children.length, 2, "the gateway was started once");
    assert.deepEqual(await exitOf(catalog), { code: 0, signal: null });
  });

  it("stop() cancels a pending restart, drains the parts before those that stop last, and exits 0", async () => {
    const { supervisor, nextLine } = harness;
    const exits: string[] = [];
    const tracked = (name: string, stopsLast = false) => {
      const start = harness.starting(serving);
      supervisor.add({
        name,
        stopsLast,
        start: () => {
          const child = start();
          child.once("exit", () => exits.push(name));
          return child;
        },
      });
    };
    tracked("ferretdb", true);
    tracked("basket");
    tracked("ordering");
    await Promise.all(harness.children.map((child) => harness.ready(child)));
    const died = nextLine("ordering died (killed by SIGKILL); restarting it in 250 ms");
    process.kill(harness.pidOf("ordering"), "SIGKILL");
    await died;

    await supervisor.stop();
    mock.timers.tick(10_000);
    assert.equal(await supervisor.stopped, 0);
    assert.deepEqual(exits, ["ordering", "basket", "ferretdb"]);
    assert.deepEqual(
      harness.lines.filter((line) => / stopped \(/.test(line.msg)).map((line) => [line.level, line.msg]),
      [
        ["info", "basket stopped (exit code 0)"],
        ["info", "ferretdb stopped (exit code 0)"],
      ],
    );
    assert.equal(harness.children.length, 3, "ordering was not restarted");
    assert.equal(harness.lines.filter((line) => line.msg === "ordering restarted").length, 0);
  });

  it("kills a part that does not stop within the stop timeout", async () => {
    const { supervisor, nextLine } = harness;
    supervisor.add({ name: "basket", start: harness.starting(`process.on("SIGTERM", () => {}); setInterval(() => {}, 1 << 30)`) });
    const basket = harness.firstChild();
    await harness.ready(basket);
    const killing = nextLine("basket did not stop within 5000 ms; killing it");
    const stopping = supervisor.stop();
    mock.timers.tick(5000);
    await killing;
    await stopping;
    assert.deepEqual(await exitOf(basket), { code: null, signal: "SIGKILL" });
    assert.equal(await supervisor.stopped, 0);
  });
});
