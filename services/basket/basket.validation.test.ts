// Every BasketService RPC with request fields, each bad input in turn:
// INVALID_ARGUMENT with reason FIELD_INVALID and a BadRequest naming the field
// (proto spelling, as in the request: "items[1].product_id", "card.expiry_month").
// GetBasket and DeleteBasket take no fields. Catalog is a stand-in that knows
// no products: bad input is refused before any price is asked for.
import { after, before, describe, it } from "node:test";
import { credentials } from "@grpc/grpc-js";
import { BasketServiceClient, type CheckoutRequest } from "../../gen/mel/basket/v1/basket.js";
import { startCatalogServer, type TestServer } from "../../platform/grpc/grpc.test-support.js";
import { type Authenticate, callUnary, type UnaryMethodName } from "../../platform/grpc/index.js";
import { createTestMongoDatabase, type TestMongoDatabase } from "../../test/support/ferretdb.js";
import { BrokerProbe, ensureRabbitMq, uniqueName } from "../../test/support/rabbitmq.js";
import { assertInvalidField } from "../../test/support/status-details.js";
import { testBasketConfig } from "./basket.test-support.js";
import { type RunningBasket, startBasket } from "./main.js";

const checkout: CheckoutRequest = {
  requestId: "3f2b8c1e-9d4a-4f7b-8a6e-2c1d0e9f8a7b",
  address: { street: "Rua do Mel, 42", city: "Natal", state: "RN", country: "BR", zipCode: "59000-000" },
  card: { number: "4111 1111 1111 1111", holderName: "Ana Souza", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, securityCode: "737" },
};
const address = checkout.address!;
const card = checkout.card!;

type Case = [method: UnaryMethodName<BasketServiceClient>, field: string, request: object];

const cases: Case[] = [
  ["addItem", "product_id", { productId: " ", quantity: 1 }],
  ["addItem", "quantity", { productId: "mel", quantity: 0 }],
  ["addItem", "quantity", { productId: "mel", quantity: 1000 }],
  ["setItems", "items", { items: Array.from({ length: 101 }, (_, index) => ({ productId: `p${index}`, quantity: 1 })) }],
  ["setItems", "items[0].product_id", { items: [{ productId: "", quantity: 1 }] }],
  [
    "setItems",
    "items[1].quantity",
    {
      items: [
        { productId: "mel", quantity: 1 },
        { productId: "pote", quantity: -2 },
      ],
    },
  ],
  [
    "setItems",
    "items[1].product_id",
    {
      items: [
        { productId: "mel", quantity: 1 },
        { productId: "mel", quantity: 2 },
      ],
    },
  ],
  ["updateItemQuantity", "product_id", { productId: "", quantity: 1 }],
  ["updateItemQuantity", "quantity", { productId: "mel", quantity: 0 }],
  ["removeItem", "product_id", { productId: "" }],
  ["checkout", "request_id", { ...checkout, requestId: "not-a-uuid" }],
  ["checkout", "address", { ...checkout, address: undefined }],
  ["checkout", "address.zip_code", { ...checkout, address: { ...address, zipCode: "" } }],
  ["checkout", "address.street", { ...checkout, address: { ...address, street: "s".repeat(1000) } }],
  ["checkout", "card", { ...checkout, card: undefined }],
  ["checkout", "card.number", { ...checkout, card: { ...card, number: "4111 1111 1111 1112" } }],
  ["checkout", "card.holder_name", { ...checkout, card: { ...card, holderName: "" } }],
  ["checkout", "card.expiry_month", { ...checkout, card: { ...card, expiryMonth: 13 } }],
  ["checkout", "card.expiry_year", { ...checkout, card: { ...card, expiryYear: 2020 } }],
  ["checkout", "card.security_code", { ...checkout, card: { ...card, securityCode: "12" } }],
];

const buyer = { subject: "buyer-validation", roles: ["buyer"], token: "t", expiresAt: new Date(Date.now() + 3_600_000) };
const authenticate: Authenticate = async () => buyer;

describe("BasketService: each bad input names its field", () => {
  let catalog: TestServer;
  let mongo: TestMongoDatabase;
  let basket: RunningBasket;
  let client: BasketServiceClient;
  const prefix = uniqueName("basket-validation");

  before(async () => {
    await ensureRabbitMq();
    catalog = await startCatalogServer({ getItemsByIds: async (request) => ({ items: [], missingIds: request.ids }) });
    mongo = await createTestMongoDatabase("basket-validation");
    const config = testBasketConfig({
      MEL_BASKET_MONGODB_URL: mongo.url,
      MEL_CATALOG_ADDRESS: catalog.address,
      MEL_EVENTS_EXCHANGE: `${prefix}.events`,
      MEL_BASKET_QUEUE: `${prefix}.basket`,
      MEL_BASKET_MAX_LINES: "100",
    });
    basket = await startBasket({ config, authenticate });
    client = new BasketServiceClient(`127.0.0.1:${basket.port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await basket?.stop();
    await catalog?.stop();
    await mongo?.drop();
    const probe = await BrokerProbe.open();
    await probe.deleteByPrefix(prefix);
    await probe.close();
  });

  for (const [method, field, request] of cases) {
    it(`${method} with a bad ${field} answers INVALID_ARGUMENT naming ${field}`, async () => {
      await assertInvalidField(callUnary(client, method, request as never), field);
    });
  }
});
