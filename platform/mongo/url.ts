import { z } from "zod";

/**
 * A MEL_*_MONGODB_URL variable: mongodb:// or mongodb+srv://, `fallback` when
 * unset. Only the scheme is checked (WHATWG URL cannot parse replica-set host
 * lists such as "a:1,b:2"); the driver checks the rest when it connects.
 */
export function mongoUrl(fallback: string) {
  return z
    .string()
    .regex(/^mongodb(\+srv)?:\/\/\S+$/, `expected a MongoDB URL such as "${fallback}"`)
    .default(fallback);
}
