import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { context, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { callLogLevel, createLogger, defaultSlowCallMs, redactedMarker, slowCallMsOf } from "./index.js";

function capture(level: "info" | "debug" = "info") {
  const raw: string[] = [];
  const logger = createLogger({ service: "identity", level, destination: { write: (line: string) => void raw.push(line) } });
  return { logger, raw, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const secrets = {
  password: "hunter2-password",
  accessToken: "eyJ-access-token",
  refreshToken: "opaque-refresh-token",
  access_token: "eyJ-snake-access",
  refresh_token: "opaque-snake-refresh",
  bearer: "Bearer eyJ-in-a-header",
  cardNumber: "4111111111111111",
  securityCode: "737",
};

test("every line is JSON with the service name, level and message", () => {
  const { logger, lines } = capture();
  logger.info({ port: 50051 }, "identity listening");
  const [line] = lines();
  assert.equal(line?.service, "identity");
  assert.equal(line?.level, "info");
  assert.equal(line?.msg, "identity listening");
  assert.equal(line?.port, 50051);
  assert.equal(typeof line?.time, "string");
});

test("child loggers carry the correlation id", () => {
  const { logger, lines } = capture();
  logger.child({ correlationId: "req-9" }).info("handled");
  assert.equal(lines()[0]?.correlationId, "req-9");
  assert.equal(lines()[0]?.service, "identity");
});

test("passwords, tokens, authorization and card data are removed wherever they sit", () => {
  const { logger, raw, lines } = capture();
  const metadata = new Metadata();
  metadata.set("authorization", secrets.bearer);
  metadata.set("x-correlation-id", "req-1");
  logger.info(
    {
      password: secrets.password,
      request: { email: "ana@example.com", password: secrets.password, newPassword: secrets.password },
      response: { accessToken: secrets.accessToken, refreshToken: secrets.refreshToken, tokenType: "Bearer" },
      body: { access_token: secrets.access_token, refresh_token: secrets.refresh_token },
      headers: { authorization: secrets.bearer },
      metadata,
      checkout: { card: { number: secrets.cardNumber, securityCode: secrets.securityCode, holderName: "Ana" }, quantity: 2 },
      payment: { card: { number: secrets.cardNumber, security_code: secrets.securityCode } },
    },
    "login",
  );
  const text = raw.join("");
  for (const [name, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `${name} leaked: ${text}`);
  const [line] = lines() as [Record<string, Record<string, Record<string, unknown>>>];
  assert.equal(line.request?.password, redactedMarker);
  assert.equal(line.request?.email, "ana@example.com", "non-secret fields stay");
  assert.equal(line.response?.tokenType, "Bearer");
  assert.equal(line.metadata?.authorization, redactedMarker);
  assert.equal(line.metadata?.["x-correlation-id"], "req-1", "metadata is written as a plain map");
  assert.equal(line.checkout?.card?.holderName, "Ana");
  assert.equal(line.checkout?.quantity, 2, "a number field outside a card stays");
});

test("a logged error keeps its message and stack", () => {
  const { logger, lines } = capture();
  logger.error({ err: new Error("disk full") }, "write failed");
  const err = lines()[0]?.err as { message: string; stack: string };
  assert.equal(err.message, "disk full");
  assert.match(err.stack, /Error: disk full/);
});

test("lines below the level are not written", () => {
  const { logger, raw } = capture("info");
  logger.debug("noise");
  assert.equal(raw.length, 0);
});

describe("callLogLevel", () => {
  test("a successful call is logged at debug", () => {
    assert.equal(callLogLevel("ok", 3, 500), "debug");
  });

  test("a call at or above the slow threshold is logged at warn, even when it succeeded", () => {
    assert.equal(callLogLevel("ok", 500, 500), "warn");
    assert.equal(callLogLevel("rejected", 900, 500), "warn");
  });

  test("a call refused because of its request is logged at info", () => {
    assert.equal(callLogLevel("rejected", 3, 500), "info");
  });

  test("a transient failure is logged at warn and a fault at error", () => {
    assert.equal(callLogLevel("transient", 3, 500), "warn");
    assert.equal(callLogLevel("fault", 3, 500), "error");
  });
});

test("a logger keeps the slow-call threshold it was made with", () => {
  const logger = createLogger({ service: "catalog", level: "silent", slowCallMs: 120 });
  assert.equal(slowCallMsOf(logger), 120);
  assert.equal(slowCallMsOf(createLogger({ service: "catalog", level: "silent" })), defaultSlowCallMs);
});

test("lines on stdout are all written before an explicit process.exit", async () => {
  const script = [
    `import { createLogger } from ${JSON.stringify(new URL("./index.ts", import.meta.url).href)};`,
    `const logger = createLogger({ service: "exit-test" });`,
    `for (let index = 0; index < 2000; index++) logger.info({ index }, "line");`,
    "process.exit(0);",
  ].join("\n");
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 0);
  const lines = output.trim().split("\n");
  assert.equal(lines.length, 2000);
  assert.equal((JSON.parse(lines.at(-1) ?? "{}") as { index?: number }).index, 1999);
});

describe("trace context and formats", () => {
  // The SDK's context manager, as register.ts installs it; without one the API has no active span.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const spanContext = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: TraceFlags.SAMPLED };
  const inSpan = (work: () => void) => context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), work);

  test("a line written inside a span carries its trace_id and span_id", () => {
    const { logger, lines } = capture();
    inSpan(() => logger.info("in a span"));
    logger.info("outside");
    assert.deepEqual(
      lines().map((line) => [line.trace_id, line.span_id]),
      [
        ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"],
        [undefined, undefined],
      ],
    );
  });

  test("the ecs format writes Elastic Common Schema fields, the trace ids and redacted secrets", () => {
    const raw: string[] = [];
    const logger = createLogger({ service: "basket", format: "ecs", destination: { write: (line: string) => void raw.push(line) } });
    inSpan(() => logger.warn({ password: "hunter2-password", err: new Error("boom") }, "checkout refused"));
    const line = JSON.parse(raw[0] ?? "{}") as Record<string, unknown>;
    assert.equal(line["log.level"], "warn");
    assert.equal(line.message, "checkout refused");
    assert.equal(line["service.name"], "basket");
    assert.equal(typeof line["@timestamp"], "string");
    assert.equal(typeof line["ecs.version"], "string");
    assert.equal(line["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(line["span.id"], "00f067aa0ba902b7");
    assert.equal(line.password, redactedMarker);
    assert.deepEqual(line.error && { message: (line.error as Record<string, unknown>).message, type: (line.error as Record<string, unknown>).type }, {
      message: "boom",
      type: "Error",
    });
  });
});
