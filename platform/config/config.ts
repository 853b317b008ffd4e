// Environment parsing: one zod schema per process, keyed by the MEL_* variable
// names, parsed once in main.ts. A bad value stops the process with a message
// that names every bad variable, what it held and what would be valid.
import { z } from "zod";
import { logLevels } from "../log/index.js";
import { formerNameOf } from "./renamed-variables.js";

/** Default listening ports of the mesh (overridden by MEL_<SERVICE>_PORT). */
export const defaultPorts = {
  identity: 50051,
  catalog: 50052,
  basket: 50053,
  ordering: 50054,
  gateway: 8080,
} as const;

export class ConfigError extends Error {
  constructor(
    message: string,
    /** One entry per bad variable: `MEL_X: expected …, got "…"`. */
    readonly problems: string[],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The schema every config is: an object whose keys are environment variable names. */
export type EnvSchema = z.ZodObject<z.ZodRawShape>;
export type Env = Record<string, string | undefined>;

/**
 * Parses and validates `env` against `schema`. Empty strings count as unset, so
 * `MEL_X=` falls back to the default. Throws a ConfigError listing every bad
 * variable at once.
 */
export function parseConfig<Schema extends EnvSchema>(schema: Schema, env: Env = process.env): z.output<Schema> {
  const renamed = Object.keys(schema.shape).flatMap((key) => {
    const old = formerNameOf(key);
    return old !== undefined && env[old] !== undefined && env[old]?.trim() !== "" ? [`${old}: was renamed ${key}; set that instead`] : [];
  });
  if (renamed.length > 0) throw new ConfigError(`invalid configuration:\n  ${renamed.join("\n  ")}`, renamed);
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== "") input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? "(environment)");
    const got = input[variable];
    if (got === undefined) return `${variable}: is required but not set`;
    return `${variable}: ${issue.message}, got ${JSON.stringify(got)}`;
  });
  throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`, problems);
}

// Field builders. Each takes the default (omit it to make the variable
// required) and says in its error message what a valid value looks like.

/** A TCP port, 0..65535 (0 = any free port). */
export function port(defaultPort?: number) {
  const schema = z
    .string()
    .regex(/^\d+$/, "expected an integer port 0..65535")
    .transform(Number)
    .pipe(z.number().int().max(65535, "expected an integer port 0..65535"));
  return defaultPort === undefined ? schema : schema.default(defaultPort);
}

/** A whole number within [min, max]. */
export function integer(options: { min?: number; max?: number; default?: number } = {}) {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  const expected = `expected an integer ${min}..${max}`;
  const schema = z
    .string()
    .regex(/^-?\d+$/, expected)
    .transform(Number)
    .pipe(z.number().int().min(min, expected).max(max, expected));
  return options.default === undefined ? schema : schema.default(options.default);
}

/** A URL whose scheme is one of `protocols` (e.g. ["postgres", "sqlite"]); any scheme when omitted. */
export function url(options: { protocols?: readonly string[]; default?: string } = {}) {
  const { protocols } = options;
  const expected = protocols ? `expected a URL starting with ${protocols.map((p) => `${p}:`).join(" or ")}` : "expected a URL";
  const schema = z.string().refine((text) => {
    if (!URL.canParse(text)) return false;
    return protocols === undefined || protocols.includes(new URL(text).protocol.replace(/:$/, ""));
  }, expected);
  return options.default === undefined ? schema : schema.default(options.default);
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const durationPattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const durationExpected = 'expected a duration such as "500" (ms), "250ms", "5s", "2m", "1h" or "7d"';

/** Milliseconds in `text` ("250ms", "5s", a bare number of ms), or undefined when it is no duration. */
function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text.trim());
  if (match === null) return undefined;
  const [, amount = "0", unit = "ms"] = match;
  return Math.round(Number(amount) * (durationUnits[unit] ?? 1));
}

/**
 * A duration in milliseconds: a bare number means ms, or a number with a unit
 * (`250ms`, `5s`, `2m`, `1h`, `7d`). The parsed value is always a number of ms.
 * Variables holding one are named for what they are (`…_TIMEOUT`, `…_INTERVAL`,
 * `…_TTL`), never with a unit suffix, since the value carries its unit.
 */
export function durationMs(defaultMs?: number) {
  const schema = z
    .string()
    .refine((text) => parseDuration(text) !== undefined, durationExpected)
    .transform((text) => parseDuration(text) ?? 0);
  return defaultMs === undefined ? schema : schema.default(defaultMs);
}

/** true/false, also accepting 1/0, yes/no, on/off (any case). */
export function boolean(defaultValue?: boolean) {
  const truthy = ["true", "1", "yes", "on"];
  const falsy = ["false", "0", "no", "off"];
  const schema = z
    .string()
    .refine((text) => [...truthy, ...falsy].includes(text.toLowerCase()), "expected true or false (also 1/0, yes/no, on/off)")
    .transform((text) => truthy.includes(text.toLowerCase()));
  return defaultValue === undefined ? schema : schema.default(defaultValue);
}

/** One of `values`, exactly as written. */
export function oneOf<const Values extends readonly [string, ...string[]]>(values: Values, defaultValue?: Values[number]) {
  const schema = z.enum(values, { error: () => `expected one of ${values.join(", ")}` });
  return defaultValue === undefined ? schema : schema.default(defaultValue as never);
}

/** A pino log level (fatal, error, warn, info, debug, trace, silent). */
export function logLevel(defaultLevel: (typeof logLevels)[number] = "info") {
  return oneOf(logLevels, defaultLevel);
}

/** A comma-separated list; blanks around items are dropped. */
export function list(defaultItems?: string[]) {
  const schema = z.string().transform((text) =>
    text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );
  return defaultItems === undefined ? schema : schema.default(defaultItems);
}

/** A non-empty string (names, hosts, secrets' file paths). */
export function text(defaultValue?: string) {
  const schema = z.string().min(1, "expected a non-empty value");
  return defaultValue === undefined ? schema : schema.default(defaultValue);
}

/**
 * One gRPC address "host:port", or several "host1:port1,host2:port2" for
 * round robin (see platform/grpc createClient), or a grpc-js target with a
 * scheme ("dns:///catalog:50052").
 */
export function address(defaultAddress?: string) {
  const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^\s:,/]+):\d{1,5}$/;
  const schema = z
    .string()
    .refine(
      (text) => /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/.test(text) || text.split(",").every((part) => hostPort.test(part.trim())),
      'expected "host:port", a comma-separated list of them, or a gRPC target such as "dns:///catalog:50052"',
    );
  return defaultAddress === undefined ? schema : schema.default(defaultAddress);
}

/** Comma-separated positive durations ("1s,5s,10s"; bare numbers are ms), e.g. a retry ladder; parsed to ms. */
export function durationList(defaults?: number[]) {
  const expected = 'expected comma-separated positive durations, e.g. "1s,5s,10s" (bare numbers are ms)';
  const parts = (text: string) => text.split(",").map((part) => parseDuration(part));
  const schema = z
    .string()
    .refine((text) => parts(text).every((ms) => ms !== undefined && ms > 0), expected)
    .transform((text) => parts(text).map((ms) => ms ?? 0));
  return defaults === undefined ? schema : schema.default(defaults);
}
