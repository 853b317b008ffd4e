// The operator CLI against a real broker: `mel dlq list` shows parked messages
// without losing them, `mel dlq replay` sends them back to the work queue.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import pino from "pino";
import { OrderStarted } from "../gen/mel/events/v1/ordering_events.js";
import { createEventBus, type EventBus, type EventMeta, type Subscription } from "../platform/events/index.js";
import { runCli } from "../scripts/mel.js";
import { BrokerProbe, ensureRabbitMq, findQueue, rabbitMqUrl, uniqueName } from "./support/rabbitmq.js";
import { waitUntil } from "./support/wait.js";

const run = promisify(execFile);
const prefix = uniqueName("cli");
const queue = `${prefix}.ordering.events`;
let bus: EventBus;
let probe: BrokerProbe;
let subscription: Subscription;
let healthy = false;
const handled: Array<{ orderId: string; meta: EventMeta }> = [];

/** The CLI in this process (fast), with its output captured. */
async function melInProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line), env: { MEL_RABBITMQ_URL: rabbitMqUrl } });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** The CLI as the operator runs it: a separate process. */
async function mel(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "scripts/mel.ts", ...args], {
      env: { ...process.env, MEL_RABBITMQ_URL: rabbitMqUrl },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

before(async () => {
  await ensureRabbitMq();
  bus = await createEventBus({ url: rabbitMqUrl, logger: pino({ level: "silent" }), exchange: `${prefix}.events` });
  probe = await BrokerProbe.open();
  subscription = await bus.subscribe({
    queue,
    retryDelaysMs: [10],
    handlers: {
      OrderStarted: async (event, meta) => {
        if (!healthy) throw new Error(`payment provider down for ${event.orderId}`);
        handled.push({ orderId: event.orderId, meta });
      },
    },
  });
});

after(async () => {
  await subscription?.close();
  await bus?.close();
  await probe?.deleteByPrefix(prefix);
  await probe?.close();
});

const order = (orderId: string) => ({ orderId, buyerId: "b-1", checkoutRequestId: `r-${orderId}` });

test("dlq list shows parked messages with id, type, attempts and error, and leaves them parked", async () => {
  const first = await bus.publish(OrderStarted, order("o-1"));
  const second = await bus.publish(OrderStarted, order("o-2"));
  await probe.waitForReady(`${queue}.dlq`, 2);

  const { code, stdout } = await mel("dlq", "list", queue);
  assert.equal(code, 0);
  assert.match(stdout, /2 message\(s\) parked/);
  for (const [id, orderId] of [
    [first, "o-1"],
    [second, "o-2"],
  ] as const) {
    const line = stdout.split("\n").find((candidate) => candidate.startsWith(id));
    assert.ok(line, `no line for ${id} in:\n${stdout}`);
    assert.match(line, /OrderStarted {2}attempts=2 /);
    assert.ok(line.endsWith(`payment provider down for ${orderId}`), line);
  }
  const json = JSON.parse((await melInProcess("dlq", "list", `${queue}.dlq`, "--json")).stdout) as { total: number; messages: Array<{ eventId: string }> };
  assert.equal(json.total, 2);
  assert.deepEqual(json.messages.map((message) => message.eventId).sort(), [first, second].sort());
  // Looking lost nothing: both are still parked, none held unacknowledged.
  assert.deepEqual(await findQueue(`${queue}.dlq`).then((info) => [info?.messagesReady, info?.messagesUnacknowledged]), [2, 0]);
});

test("dlq replay --id sends one message back, dlq replay the rest, and the fixed handler applies them", async () => {
  healthy = true;
  const listed = JSON.parse((await melInProcess("dlq", "list", queue, "--json")).stdout) as { messages: Array<{ eventId: string }> };
  const [one, other] = listed.messages.map((message) => message.eventId);
  assert.ok(one && other);

  const single = await mel("dlq", "replay", queue, "--id", one);
  assert.equal(single.code, 0, single.stderr);
  assert.match(single.stdout, /replayed 1 message\(s\) to .*; 1 still parked/);
  await waitUntil("the replayed event to be handled", () => handled.length === 1);
  assert.equal(handled[0]?.meta.eventId, one);
  assert.equal(handled[0]?.meta.attempt, 1, "a replay starts the retry ladder afresh");

  const rest = await mel("dlq", "replay", queue);
  assert.equal(rest.code, 0, rest.stderr);
  assert.match(rest.stdout, /replayed 1 message\(s\) to .*; 0 still parked/);
  await waitUntil("the second event to be handled", () => handled.length === 2);
  assert.equal(handled[1]?.meta.eventId, other);
  assert.equal(await probe.readyCount(`${queue}.dlq`), 0);
});

test("unknown commands and a missing queue name exit with usage errors", async () => {
  const unknown = await melInProcess("dlq", "purge", queue);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "dlq purge"/);
  const missing = await melInProcess("dlq", "list");
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /usage: dlq list <queue>/);
  const noSuchQueue = await melInProcess("dlq", "list", `${prefix}.nothing`);
  assert.equal(noSuchQueue.code, 1);
  assert.match(noSuchQueue.stderr, /NOT_FOUND/);
});
