// Whether each integration event must reach a consumer. The contract says it:
// every event message in proto/mel/events/v1 carries the custom option
// (mel.events.v1.delivery) (see delivery.proto). ts-proto does not emit message
// options, so they are read here from the descriptor set `npm run gen` writes
// (gen/descriptor.binpb, also copied into dist/ by the build).
//
// A required event is published mandatory: the broker hands it back when no
// queue is bound for it, and the outbox parks it for an operator. A notice is
// published without mandatory: nobody bound for it means nobody wanted it.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileRegistry, fromBinary, getExtension, hasExtension } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { EventDelivery } from "../../gen/mel/events/v1/delivery.js";
import { type EventName, integrationEvents } from "./event-types.js";

export type Delivery = "required" | "notice";

// Two folders up both in the source tree and in dist/, as for the gRPC server's reflection.
const descriptorSetPath = resolve(dirname(fileURLToPath(import.meta.url)), "../../gen/descriptor.binpb");
const eventsPackage = "mel.events.v1";

/**
 * Reads the delivery of every registered integration event from a descriptor
 * set. Throws naming the event when one is missing from the set or declares
 * no delivery: a contract bug that must stop a service at start-up.
 */
export function readEventDeliveries(descriptorSet: Uint8Array): ReadonlyMap<EventName, Delivery> {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
  const option = registry.getExtension(`${eventsPackage}.delivery`);
  if (!option) throw new Error(`the descriptor set has no ${eventsPackage}.delivery option; run npm run gen`);
  const deliveries = new Map<EventName, Delivery>();
  for (const { name } of integrationEvents()) {
    const message = registry.getMessage(`${eventsPackage}.${name}`);
    if (!message) throw new Error(`integration event ${name} is not in the descriptor set as ${eventsPackage}.${name}; run npm run gen`);
    const options = message.proto.options;
    const declared = options && hasExtension(options, option) ? (getExtension(options, option) as EventDelivery) : EventDelivery.EVENT_DELIVERY_UNSPECIFIED;
    switch (declared) {
      case EventDelivery.EVENT_DELIVERY_REQUIRED:
        deliveries.set(name, "required");
        break;
      case EventDelivery.EVENT_DELIVERY_NOTICE:
        deliveries.set(name, "notice");
        break;
      default:
        throw new Error(
          `integration event ${name} declares no delivery; add option (mel.events.v1.delivery) = EVENT_DELIVERY_REQUIRED or EVENT_DELIVERY_NOTICE to its message`,
        );
    }
  }
  return deliveries;
}

let loaded: ReadonlyMap<EventName, Delivery> | undefined;

/** The deliveries of the contract this build was generated from (read once). */
export function eventDeliveries(): ReadonlyMap<EventName, Delivery> {
  loaded ??= readEventDeliveries(readFileSync(descriptorSetPath));
  return loaded;
}

/**
 * The delivery of an event published under `type`. Anything that is not a
 * registered integration event (a test's own message, a request) is treated
 * as required: a loss is reported rather than assumed harmless.
 */
export function deliveryOf(type: string): Delivery {
  return eventDeliveries().get(type as EventName) ?? "required";
}
