import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { DescriptorProtoSchema, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { CheckoutLine, UserCheckoutAccepted } from "../../gen/mel/events/v1/basket_events.js";
import { OrderStarted } from "../../gen/mel/events/v1/ordering_events.js";
import { decodeEvent, encodeEvent, eventNameOf, eventRegistryFrom, integrationEvents, isEventName } from "./event-types.js";

const descriptorSet = readFileSync(new URL("../../gen/descriptor.binpb", import.meta.url));

test("the events are the messages of mel.events.v1 that no other message of the package embeds", () => {
  assert.deepEqual(
    integrationEvents()
      .map((event) => event.name)
      .sort(),
    [
      "CheckoutRejected",
      "OrderPaymentFailed",
      "OrderPaymentSucceeded",
      "OrderStarted",
      "OrderStatusChangedToAwaitingValidation",
      "OrderStatusChangedToCancelled",
      "OrderStatusChangedToPaid",
      "OrderStatusChangedToShipped",
      "OrderStatusChangedToStockConfirmed",
      "OrderStockConfirmed",
      "OrderStockRejected",
      "OrderViewChanged",
      "ProductPriceChanged",
      "SessionRevoked",
      "UserCheckoutAccepted",
    ],
  );
});

test("an event's routing key is its name and its type name is its full proto name", () => {
  const event = integrationEvents().find((candidate) => candidate.name === "OrderStarted");
  assert.deepEqual(
    { typeName: event?.typeName, routingKey: event?.routingKey, codec: event?.codec },
    { typeName: "mel.events.v1.OrderStarted", routingKey: "OrderStarted", codec: OrderStarted },
  );
});

test("a part of an event is not an event", () => {
  assert.equal(isEventName("CheckoutLine"), false);
  assert.throws(() => eventNameOf(CheckoutLine), /not an integration event codec/);
  assert.equal(eventNameOf(UserCheckoutAccepted), "UserCheckoutAccepted");
});

test("an event body goes through its generated codec both ways", () => {
  const body = encodeEvent("OrderStarted", OrderStarted.fromPartial({ orderId: "o-1", buyerId: "b-1" }));
  assert.deepEqual(decodeEvent("OrderStarted", body), OrderStarted.fromPartial({ orderId: "o-1", buyerId: "b-1" }));
});

test("a new file of events without its generated module is a start-up error naming the file", () => {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
  set.file.push(
    create(FileDescriptorProtoSchema, {
      name: "mel/events/v1/shipping_events.proto",
      package: "mel.events.v1",
      syntax: "proto3",
      messageType: [create(DescriptorProtoSchema, { name: "ParcelDispatched" })],
    }),
  );
  assert.throws(() => eventRegistryFrom(toBinary(FileDescriptorSetSchema, set)), /mel\/events\/v1\/shipping_events\.proto holds integration events/);
});
