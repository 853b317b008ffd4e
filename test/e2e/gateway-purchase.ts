// A purchase as a shopper makes it through the gateway's HTTP/JSON API:
// register, sign in, put the first catalogue item in the basket, check out,
// and wait for the order to be paid. For the tests that then look at what the
// purchase left behind (its trace, its metrics).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { waitUntil } from "../support/wait.js";

export interface Purchase {
  orderId: string;
  accessToken: string;
}

async function api(base: string, path: string, init: { token?: string; body?: unknown; traceparent?: string } = {}): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: {
      "content-type": "application/json",
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.traceparent ? { traceparent: init.traceparent } : {}),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 200, `${path}: ${JSON.stringify(body)}`);
  return body;
}

/** Buys one unit of the first item at `gatewayUrl`; the checkout call carries `checkoutTraceparent` when given. */
export async function buyThroughGateway(gatewayUrl: string, checkoutTraceparent?: string): Promise<Purchase> {
  const email = `buyer-${randomUUID()}@example.com`;
  await api(gatewayUrl, "/api/v1/identity/register", { body: { email, password: "correct horse battery" } });
  const { accessToken } = (await api(gatewayUrl, "/api/v1/identity/login", { body: { email, password: "correct horse battery" } })) as { accessToken: string };
  const { items } = (await api(gatewayUrl, "/api/v1/catalog/items?pageSize=1")) as { items: { id: string }[] };
  await api(gatewayUrl, "/api/v1/basket/items", { token: accessToken, body: { productId: items[0]?.id, quantity: 1 } });
  const { orderId } = (await api(gatewayUrl, "/api/v1/basket/checkout", {
    token: accessToken,
    ...(checkoutTraceparent ? { traceparent: checkoutTraceparent } : {}),
    body: {
      requestId: randomUUID(),
      address: { street: "Rua das Flores 12", city: "Curitiba", state: "PR", country: "BR", zipCode: "80010-000" },
      card: { number: "4111111111111111", holderName: "Ana Silva", expiryMonth: 12, expiryYear: 2030, securityCode: "123" },
    },
  })) as { orderId: string };
  await waitUntil(
    "the order to be paid",
    async () => {
      // NOT_FOUND until ordering has handled UserCheckoutAccepted.
      const response = await fetch(`${gatewayUrl}/api/v1/orders/${orderId}`, { headers: { authorization: `Bearer ${accessToken}` } });
      return response.status === 200 && ((await response.json()) as { order?: { status?: string } }).order?.status === "ORDER_STATUS_PAID";
    },
    60_000,
    200,
  );
  return { orderId, accessToken };
}
