// Which port each deployable serves its Prometheus /metrics on:
// MEL_<PART>_METRICS_PORT, 0 to turn it off.
import { z } from "zod";
import { type Env, parseConfig, port } from "../config/index.js";

/** Default metrics ports of the mesh, one per process so one machine runs them all. */
export const defaultMetricsPorts = {
  gateway: 9450,
  identity: 9451,
  catalog: 9452,
  basket: 9453,
  ordering: 9454,
} as const;

export type MeshPart = keyof typeof defaultMetricsPorts;

/** The mesh part an entry script is (".../services/basket/main.js" → "basket"), undefined for anything else. */
export function partOfEntryPoint(script: string): MeshPart | undefined {
  const match = /(?:^|[\\/])(?:services[\\/])?(gateway|identity|catalog|basket|ordering)[\\/]main\.[jt]s$/.exec(script);
  return match ? (match[1] as MeshPart) : undefined;
}

/**
 * `part`'s metrics port from MEL_<PART>_METRICS_PORT; a process that is no
 * mesh part has metrics off unless MEL_METRICS_PORT is set.
 */
export function metricsPortFromEnv(part: string, env: Env = process.env): number {
  const known = (defaultMetricsPorts as Record<string, number>)[part];
  const variable = known === undefined ? "MEL_METRICS_PORT" : `MEL_${part.toUpperCase()}_METRICS_PORT`;
  return parseConfig(z.object({ [variable]: port(known ?? 0) }), env)[variable] as number;
}
