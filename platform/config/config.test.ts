import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import {
  address,
  boolean,
  ConfigError,
  defaultPorts,
  durationList,
  durationMs,
  integer,
  list,
  logLevel,
  oneOf,
  parseConfig,
  port,
  text,
  url,
} from "./index.js";

const catalogEnv = z.object({
  MEL_CATALOG_HOST: text("0.0.0.0"),
  MEL_CATALOG_PORT: port(defaultPorts.catalog),
  MEL_CATALOG_DATABASE_URL: url({ protocols: ["sqlite", "postgres", "mssql"], default: "sqlite:data/catalog.db" }),
  MEL_CATALOG_DRAIN_TIMEOUT: durationMs(10_000),
  MEL_CATALOG_SEED_DEMO: boolean(false),
  MEL_LOG_LEVEL: logLevel(),
  MEL_CATALOG_QUEUE_TYPE: oneOf(["classic", "quorum"], "quorum"),
  MEL_CATALOG_PAGE_SIZE: integer({ min: 1, max: 100, default: 20 }),
  MEL_CATALOG_CORS_ORIGINS: list([]),
  MEL_IDENTITY_ADDRESS: address(`127.0.0.1:${defaultPorts.identity}`),
});

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(catalogEnv, env);
  } catch (error: unknown) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  throw new Error("expected a ConfigError");
}

test("defaults fill every unset or empty variable", () => {
  const config = parseConfig(catalogEnv, { MEL_CATALOG_DRAIN_TIMEOUT: "" });
  assert.deepEqual(config, {
    MEL_CATALOG_HOST: "0.0.0.0",
    MEL_CATALOG_PORT: 50052,
    MEL_CATALOG_DATABASE_URL: "sqlite:data/catalog.db",
    MEL_CATALOG_DRAIN_TIMEOUT: 10_000,
    MEL_CATALOG_SEED_DEMO: false,
    MEL_LOG_LEVEL: "info",
    MEL_CATALOG_QUEUE_TYPE: "quorum",
    MEL_CATALOG_PAGE_SIZE: 20,
    MEL_CATALOG_CORS_ORIGINS: [],
    MEL_IDENTITY_ADDRESS: "127.0.0.1:50051",
  });
});

test("values are parsed into their types", () => {
  const config = parseConfig(catalogEnv, {
    MEL_CATALOG_PORT: "0",
    MEL_CATALOG_DATABASE_URL: "postgres://postgres@127.0.0.1:5432/catalog",
    MEL_CATALOG_DRAIN_TIMEOUT: "2.5s",
    MEL_CATALOG_SEED_DEMO: "YES",
    MEL_LOG_LEVEL: "debug",
    MEL_CATALOG_QUEUE_TYPE: "classic",
    MEL_CATALOG_PAGE_SIZE: "50",
    MEL_CATALOG_CORS_ORIGINS: "http://a.test, http://b.test,",
    MEL_IDENTITY_ADDRESS: "10.0.0.1:50051,10.0.0.2:50051",
  });
  assert.equal(config.MEL_CATALOG_PORT, 0);
  assert.equal(config.MEL_CATALOG_DRAIN_TIMEOUT, 2500);
  assert.equal(config.MEL_CATALOG_SEED_DEMO, true);
  assert.equal(config.MEL_LOG_LEVEL, "debug");
  assert.equal(config.MEL_CATALOG_QUEUE_TYPE, "classic");
  assert.equal(config.MEL_CATALOG_PAGE_SIZE, 50);
  assert.deepEqual(config.MEL_CATALOG_CORS_ORIGINS, ["http://a.test", "http://b.test"]);
  assert.equal(config.MEL_IDENTITY_ADDRESS, "10.0.0.1:50051,10.0.0.2:50051");
});

test("durations take ms, s, m, h and d", () => {
  const schema = z.object({ MEL_T: durationMs() });
  assert.equal(parseConfig(schema, { MEL_T: "250" }).MEL_T, 250);
  assert.equal(parseConfig(schema, { MEL_T: "250ms" }).MEL_T, 250);
  assert.equal(parseConfig(schema, { MEL_T: "2m" }).MEL_T, 120_000);
  assert.equal(parseConfig(schema, { MEL_T: "1h" }).MEL_T, 3_600_000);
  assert.equal(parseConfig(schema, { MEL_T: "7d" }).MEL_T, 604_800_000);
});

test("a list of durations takes units per item and refuses zero, negatives and words", () => {
  const schema = z.object({ MEL_T: durationList() });
  assert.deepEqual(parseConfig(schema, { MEL_T: "1s, 5s,250ms,100" }).MEL_T, [1000, 5000, 250, 100]);
  for (const bad of ["0", "1s,-5s", "1s,,2s", "soon"]) {
    assert.throws(
      () => parseConfig(schema, { MEL_T: bad }),
      (error: unknown) => error instanceof ConfigError && error.problems[0]?.startsWith("MEL_T: expected comma-separated positive durations") === true,
      bad,
    );
  }
});

test("a variable set under its former name stops the process, naming the new name", () => {
  const schema = z.object({ MEL_ORDERING_GRACE_PERIOD: durationMs(60_000) });
  assert.throws(
    () => parseConfig(schema, { MEL_ORDERING_GRACE_PERIOD_MS: "0" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.length === 1 &&
      error.problems[0] === "MEL_ORDERING_GRACE_PERIOD_MS: was renamed MEL_ORDERING_GRACE_PERIOD; set that instead",
  );
  assert.equal(parseConfig(schema, { MEL_ORDERING_GRACE_PERIOD: "0" }).MEL_ORDERING_GRACE_PERIOD, 0);
});

test("a bad port names the variable, what is valid and what it got", () => {
  assert.deepEqual(problemsOf({ MEL_CATALOG_PORT: "abc" }), ['MEL_CATALOG_PORT: expected an integer port 0..65535, got "abc"']);
  assert.deepEqual(problemsOf({ MEL_CATALOG_PORT: "70000" }), ['MEL_CATALOG_PORT: expected an integer port 0..65535, got "70000"']);
});

test("every bad variable is reported at once, in the error message too", () => {
  let message = "";
  try {
    parseConfig(catalogEnv, {
      MEL_CATALOG_DATABASE_URL: "mysql://db",
      MEL_CATALOG_DRAIN_TIMEOUT: "soon",
      MEL_CATALOG_SEED_DEMO: "maybe",
      MEL_LOG_LEVEL: "loud",
      MEL_CATALOG_QUEUE_TYPE: "lazy",
      MEL_CATALOG_PAGE_SIZE: "500",
      MEL_IDENTITY_ADDRESS: "identity",
    });
  } catch (error: unknown) {
    message = (error as Error).message;
  }
  assert.match(message, /^invalid configuration:/);
  assert.match(message, /MEL_CATALOG_DATABASE_URL: expected a URL starting with sqlite: or postgres: or mssql:, got "mysql:\/\/db"/);
  assert.match(message, /MEL_CATALOG_DRAIN_TIMEOUT: expected a duration such as "500" \(ms\), "250ms", "5s", "2m", "1h" or "7d", got "soon"/);
  assert.match(message, /MEL_CATALOG_SEED_DEMO: expected true or false .*, got "maybe"/);
  assert.match(message, /MEL_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/);
  assert.match(message, /MEL_CATALOG_QUEUE_TYPE: expected one of classic, quorum, got "lazy"/);
  assert.match(message, /MEL_CATALOG_PAGE_SIZE: expected an integer 1\.\.100, got "500"/);
  assert.match(message, /MEL_IDENTITY_ADDRESS: expected "host:port".*, got "identity"/);
});

test("a required variable without a default is reported when unset", () => {
  const schema = z.object({ MEL_IDENTITY_SIGNING_KEY_SECRET: text() });
  assert.throws(() => parseConfig(schema, {}), /MEL_IDENTITY_SIGNING_KEY_SECRET: is required but not set/);
});

test("variables the schema does not name are ignored", () => {
  assert.equal(parseConfig(z.object({ MEL_A: port(1) }), { MEL_B: "x", PATH: "/bin" }).MEL_A, 1);
});

test("the default ports are identity 50051, catalog 50052, basket 50053, ordering 50054 and gateway 8080", () => {
  // Tools, the README and other services' default addresses rely on these.
  assert.deepEqual(defaultPorts, { identity: 50051, catalog: 50052, basket: 50053, ordering: 50054, gateway: 8080 });
  assert.equal(parseConfig(z.object({ MEL_BASKET_PORT: port(defaultPorts.basket) }), { MEL_BASKET_PORT: "6000" }).MEL_BASKET_PORT, 6000, "overridable by env");
});
