// The integration events Mel publishes, derived from the contracts: every
// event is a message of package mel.events.v1 in the descriptor set
// (gen/descriptor.binpb), its name is the AMQP `type` property and the routing
// key on the events exchange, and its codec is the ts-proto message generated
// for it (wire shapes are never written by hand). A new event needs only its
// proto (then `npm run gen`) and its handler; a new file of events also needs
// its generated module in `eventModules` below, which start-up checks.
//
// Which messages are events: the top-level messages of mel.events.v1 that no
// message of the package embeds as a field. The others (CheckoutLine,
// StockShortage, OrderStockItem) are parts of events, never sent alone.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileRegistry, type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as basketEvents from "../../gen/mel/events/v1/basket_events.js";
import * as catalogEvents from "../../gen/mel/events/v1/catalog_events.js";
import * as identityEvents from "../../gen/mel/events/v1/identity_events.js";
import * as orderingEvents from "../../gen/mel/events/v1/ordering_events.js";

/** What the bus needs of a generated message: protobuf bytes both ways. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** The generated modules of the files of mel.events.v1, one per file. */
const eventModules = [basketEvents, catalogEvents, identityEvents, orderingEvents];

type EventModules = typeof basketEvents & typeof catalogEvents & typeof identityEvents & typeof orderingEvents;
type Codec<T> = MessageCodec<T> & { fromPartial(object: never): T };

/**
 * The message names of mel.events.v1 with a codec. At run time only events
 * (see above) are accepted: subscribing to or publishing a part of an event
 * fails with a message naming the events.
 */
export type EventName = { [K in keyof EventModules]: EventModules[K] extends Codec<infer _T> ? K : never }[keyof EventModules] & string;

/** The message type of event `N`, e.g. EventOf<"OrderStarted"> is the OrderStarted interface. */
export type EventOf<N extends EventName> = EventModules[N] extends { decode(input: Uint8Array): infer E } ? E : never;

/** One integration event: its name (AMQP type, routing key), full proto name and codec. */
export interface IntegrationEvent {
  name: EventName;
  /** "mel.events.v1.OrderStarted". */
  typeName: string;
  /** The routing key on the events exchange: the event's name. */
  routingKey: string;
  codec: MessageCodec<unknown>;
}

export const eventsPackage = "mel.events.v1";

// gen/descriptor.binpb sits two folders up both in the source tree and in dist/.
const descriptorSetPath = resolve(dirname(fileURLToPath(import.meta.url)), "../../gen/descriptor.binpb");

let registry: { byName: Map<string, IntegrationEvent>; byCodec: Map<unknown, IntegrationEvent> } | undefined;

/** The events of mel.events.v1 in `descriptorSet` (an encoded FileDescriptorSet), matched to their generated codecs. */
export function eventRegistryFrom(descriptorSet: Uint8Array): IntegrationEvent[] {
  const files = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
  const modulesByFile = new Map<string, Record<string, unknown>>(eventModules.map((module) => [module.protobufFileName, module]));
  const messages: DescMessage[] = [];
  for (const file of files.files) {
    // A file of the package that declares no message (the delivery option's) holds no events.
    if (file.proto.package !== eventsPackage || file.messages.length === 0) continue;
    if (!modulesByFile.has(file.proto.name)) {
      throw new Error(`${file.proto.name} holds integration events but platform/events/event-types.ts does not import its generated module`);
    }
    messages.push(...file.messages);
  }
  const embedded = new Set(messages.flatMap((message) => message.fields.flatMap((field) => (field.message ? [field.message.typeName] : []))));
  return messages
    .filter((message) => !embedded.has(message.typeName))
    .map((message) => {
      const codec = modulesByFile.get(message.file.proto.name)?.[message.name] as MessageCodec<unknown> | undefined;
      if (codec === undefined) throw new Error(`${message.file.proto.name} has no generated codec for ${message.typeName}; run npm run gen`);
      return { name: message.name as EventName, typeName: message.typeName, routingKey: message.name, codec };
    });
}

function events() {
  if (registry === undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(descriptorSetPath);
    } catch (error: unknown) {
      throw new Error(`cannot read the descriptor set at ${descriptorSetPath} (run npm run gen): ${(error as Error).message}`);
    }
    const list = eventRegistryFrom(bytes);
    registry = { byName: new Map(list.map((event) => [event.name, event])), byCodec: new Map(list.map((event) => [event.codec, event])) };
  }
  return registry;
}

/** Every integration event, in descriptor order. */
export function integrationEvents(): IntegrationEvent[] {
  return [...events().byName.values()];
}

export function isEventName(name: string): name is EventName {
  return events().byName.has(name);
}

/** The event name of a generated codec; throws for a message that is not an integration event. */
export function eventNameOf(codec: MessageCodec<never> | object): EventName {
  const event = events().byCodec.get(codec);
  if (event === undefined) {
    throw new Error(`not an integration event codec: events are the messages of ${eventsPackage} (known: ${[...events().byName.keys()].join(", ")})`);
  }
  return event.name;
}

function codecOf(name: string): MessageCodec<unknown> {
  const event = events().byName.get(name);
  if (event === undefined) throw new Error(`${name} is not an integration event (known: ${[...events().byName.keys()].join(", ")})`);
  return event.codec;
}

export function encodeEvent<N extends EventName>(name: N, event: EventOf<N>): Uint8Array {
  return codecOf(name).encode(event).finish();
}

export function decodeEvent<N extends EventName>(name: N, body: Uint8Array): EventOf<N> {
  return codecOf(name).decode(body) as EventOf<N>;
}
