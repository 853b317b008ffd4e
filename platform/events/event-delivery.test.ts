// Each integration event's delivery, as the contract in proto/mel/events/v1 declares it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { deliveryOf, eventDeliveries, integrationEvents, readEventDeliveries } from "./index.js";

describe("event delivery", () => {
  test("every integration event declares it: what the order saga, the basket and the order read model wait for is required, the rest (and the broadcast SessionRevoked) are notices", () => {
    assert.deepEqual(Object.fromEntries(eventDeliveries()), {
      UserCheckoutAccepted: "required",
      ProductPriceChanged: "required",
      OrderStockConfirmed: "required",
      OrderStockRejected: "required",
      OrderStarted: "required",
      CheckoutRejected: "required",
      OrderStatusChangedToAwaitingValidation: "required",
      OrderStatusChangedToStockConfirmed: "notice",
      OrderPaymentSucceeded: "notice",
      OrderPaymentFailed: "notice",
      OrderStatusChangedToPaid: "required",
      OrderStatusChangedToShipped: "notice",
      OrderStatusChangedToCancelled: "required",
      // Ordering's read model is built from it (ordering binds it on its own queue).
      OrderViewChanged: "required",
      // Every running instance has a queue of its own for it; with none running nobody needs telling.
      SessionRevoked: "notice",
    });
    assert.deepEqual(
      [...eventDeliveries().keys()].sort(),
      integrationEvents()
        .map(({ name }) => name)
        .sort(),
    );
  });

  test("a type that is not an integration event is treated as required", () => {
    assert.equal(deliveryOf("SomethingElse"), "required");
  });

  test("a descriptor set without the events' contract is refused, naming what to run", () => {
    const empty = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [] }));
    assert.throws(() => readEventDeliveries(empty), { message: "the descriptor set has no mel.events.v1.delivery option; run npm run gen" });
  });

  test("an event message without the option is refused, naming the event and the option to add", () => {
    const set = readFileSync(new URL("../../gen/descriptor.binpb", import.meta.url));
    const parsed = fromBinary(FileDescriptorSetSchema, set);
    const basketEvents = parsed.file.find((file) => file.name === "mel/events/v1/basket_events.proto");
    const message = basketEvents?.messageType.find((candidate) => candidate.name === "UserCheckoutAccepted");
    assert.ok(message);
    message.options = undefined;
    assert.throws(() => readEventDeliveries(toBinary(FileDescriptorSetSchema, parsed)), {
      message:
        "integration event UserCheckoutAccepted declares no delivery; add option (mel.events.v1.delivery) = EVENT_DELIVERY_REQUIRED or EVENT_DELIVERY_NOTICE to its message",
    });
  });
});
