// Gauges read when Prometheus scrapes: the state of each upstream's circuit
// breaker and the depth of each consumed queue's DLQ. Both are observed
// rather than counted because what matters is the state now.
import { metrics } from "@opentelemetry/api";
import type { ChannelModel } from "amqplib";
import { CircuitState } from "cockatiel";

// Prometheus has no enum: 0 closed, 1 open, 2 half-open, 3 isolated (cockatiel's states).
const stateValue: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.Open]: 1,
  [CircuitState.HalfOpen]: 2,
  [CircuitState.Isolated]: 3,
};

/** Reports mel.circuit_breaker.state{upstream} (0 closed, 1 open, 2 half-open, 3 isolated) and counts its opens. */
export function observeBreaker(upstream: string, policy: { readonly state: CircuitState; onBreak(listener: () => void): unknown }): void {
  const meter = metrics.getMeter("mel.grpc");
  meter
    .createObservableGauge("mel.circuit_breaker.state", { description: "Circuit breaker of an upstream: 0 closed, 1 open, 2 half-open, 3 isolated" })
    .addCallback((result) => result.observe(stateValue[policy.state], { upstream }));
  const opened = meter.createCounter("mel.circuit_breaker.opened", { description: "Times an upstream's circuit opened" });
  policy.onBreak(() => opened.add(1, { upstream }));
}

/**
 * Reports mel.events.dlq.depth{queue}: messages parked in `<queue>.dlq`,
 * asked of the broker on a channel of its own per scrape (a failed check
 * closes the channel it ran on, never a consumer's).
 */
export function observeDeadLetterDepth(queue: string, dlq: string, connection: () => ChannelModel | undefined): () => void {
  const gauge = metrics.getMeter("mel.events").createObservableGauge("mel.events.dlq.depth", { description: "Messages parked in a queue's dead-letter queue" });
  const callback = async (result: { observe(value: number, attributes: Record<string, string>): void }) => {
    const model = connection();
    if (!model) return;
    const channel = await model.createChannel().catch(() => undefined);
    if (!channel) return;
    channel.on("error", () => undefined);
    try {
      const { messageCount } = await channel.checkQueue(dlq);
      result.observe(messageCount, { queue });
    } catch {
      // The DLQ is gone or the broker is away: no value is better than a wrong zero.
    } finally {
      await channel.close().catch(() => undefined);
    }
  };
  gauge.addCallback(callback);
  return () => gauge.removeCallback(callback);
}
