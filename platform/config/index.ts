// Validated configuration from environment variables (MEL_<THING>), parsed
// once in main.ts with zod and passed down as a typed object.
// Must never: read process.env outside parseConfig's caller, hold config in a
// global, or start a process on a bad value (ConfigError names each bad
// variable and what would be valid).

export type { Env, EnvSchema } from "./config.js";
export {
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
} from "./config.js";
