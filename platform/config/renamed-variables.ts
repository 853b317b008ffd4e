// Variables that were renamed, new name → old name. A process refuses to start
// while an old name is set, so a setting made under the old name is never
// silently ignored: the error says which name to use instead.
const services = ["IDENTITY", "CATALOG", "BASKET", "ORDERING"] as const;

const formerNames = new Map<string, string>([
  ...services.flatMap(
    (service): Array<[string, string]> => [
      [`MEL_${service}_DRAIN_TIMEOUT`, `MEL_${service}_DRAIN_MS`],
      [`MEL_${service}_EVENT_RETRY_DELAYS`, `MEL_${service}_EVENT_RETRY_DELAYS_MS`],
      [`MEL_${service}_OUTBOX_POLL_INTERVAL`, `MEL_${service}_OUTBOX_POLL_MS`],
    ],
  ),
  ["MEL_ORDERING_GRACE_PERIOD", "MEL_ORDERING_GRACE_PERIOD_MS"],
  ["MEL_ORDERING_STEP_LEASE", "MEL_ORDERING_STEP_LEASE_MS"],
  ["MEL_ORDERING_STEP_POLL_INTERVAL", "MEL_ORDERING_STEP_POLL_MS"],
  ["MEL_ORDERING_WATCH_POLL_INTERVAL", "MEL_ORDERING_WATCH_POLL_MS"],
  ["MEL_BASKET_PAYMENT_TOKEN_KEY", "MEL_PAYMENT_TOKEN_KEY"],
]);

/** The name `variable` had before it was renamed, if it was. */
export function formerNameOf(variable: string): string | undefined {
  return formerNames.get(variable);
}
