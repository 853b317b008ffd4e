// The integration events Mel publishes, by name. The name is the AMQP `type`
// property and the routing key on the events exchange; the codec is the
// ts-proto message generated from proto/mel/events/v1 (wire shapes are never
// written by hand).
import { UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { OrderStockConfirmed, OrderStockRejected, ProductPriceChanged } from "../../gen/mel/events/v1/catalog_events.js";
import { SessionRevoked } from "../../gen/mel/events/v1/identity_events.js";
import {
  CheckoutRejected,
  OrderPaymentFailed,
  OrderPaymentSucceeded,
  OrderStarted,
  OrderStatusChangedToAwaitingValidation,
  OrderStatusChangedToCancelled,
  OrderStatusChangedToPaid,
  OrderStatusChangedToShipped,
  OrderStatusChangedToStockConfirmed,
} from "../../gen/mel/events/v1/ordering_events.js";

/** What the bus needs of a generated message: protobuf bytes both ways. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

export const integrationEvents = {
  UserCheckoutAccepted,
  ProductPriceChanged,
  OrderStockConfirmed,
  OrderStockRejected,
  OrderStarted,
  CheckoutRejected,
  OrderStatusChangedToAwaitingValidation,
  OrderStatusChangedToStockConfirmed,
  OrderPaymentSucceeded,
  OrderPaymentFailed,
  OrderStatusChangedToPaid,
  OrderStatusChangedToShipped,
  OrderStatusChangedToCancelled,
  SessionRevoked,
} as const;

export type EventName = keyof typeof integrationEvents;

/** The message type of event `N`, e.g. EventOf<"OrderStarted"> is the OrderStarted interface. */
export type EventOf<N extends EventName> = (typeof integrationEvents)[N] extends { decode(input: Uint8Array): infer E } ? E : never;

const namesByCodec = new Map<unknown, EventName>((Object.entries(integrationEvents) as Array<[EventName, unknown]>).map(([name, codec]) => [codec, name]));

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(integrationEvents, name);
}

/** The event name of a generated codec; throws for a message that is not an integration event. */
export function eventNameOf(codec: MessageCodec<never> | object): EventName {
  const name = namesByCodec.get(codec);
  if (name === undefined) {
    throw new Error(
      `not an integration event codec; register the message in platform/events/event-types.ts (known: ${Object.keys(integrationEvents).join(", ")})`,
    );
  }
  return name;
}

export function encodeEvent<N extends EventName>(name: N, event: EventOf<N>): Uint8Array {
  return (integrationEvents[name] as unknown as MessageCodec<EventOf<N>>).encode(event).finish();
}

export function decodeEvent<N extends EventName>(name: N, body: Uint8Array): EventOf<N> {
  return (integrationEvents[name] as unknown as MessageCodec<EventOf<N>>).decode(body);
}
