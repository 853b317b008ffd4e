// The storefront in Chromium against the whole mesh as `npm start` runs it:
// a shopper's purchase from an anonymous basket to a paid order watched live,
// a declined card, an admin's price change seen in a shopper's basket, a
// voucher on the basket page, the
// silent token refresh, a reused refresh token, the server's field errors in
// every form, axe on every page, and how the gateway serves the site.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { declinedTestCard } from "../services/ordering/payment/simulated-payment-gateway.js";
import {
  addToBasket,
  approvedCard,
  assertAccessible,
  fillCheckout,
  keepScreenshot,
  launchChromium,
  newShopper,
  openShopper,
  register,
  type ShopperPage,
  signIn,
} from "./testing/browser.js";
import { adminEmail, adminPassword, type StorefrontMesh, startStorefrontMesh } from "./testing/storefront-mesh.js";

// Short enough that the refresh test crosses an expiry in seconds; every other
// test then also runs on renewed tokens.
const accessTokenTtlSeconds = 5;
const refreshPath = "/mel.identity.v1.IdentityService/Refresh";

let mesh: StorefrontMesh;
let browser: Browser;

before(async () => {
  mesh = await startStorefrontMesh({ accessTokenTtl: `${accessTokenTtlSeconds}s` });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mesh?.stop();
});

/** Runs a test's steps in a fresh browser context; keeps a screenshot of the last page and fails on any uncaught page error. */
async function asShopper(name: string, steps: (shopper: ShopperPage) => Promise<void>): Promise<void> {
  const shopper = await openShopper(browser, mesh.url);
  try {
    await steps(shopper);
    assert.deepEqual(
      shopper.pageErrors.map((error) => error.message),
      [],
    );
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- mesh log ---\n${mesh.logTail()}`, { cause: error });
  } finally {
    await keepScreenshot(shopper.page, name).catch(() => undefined);
    await shopper.context.close();
  }
}

/**
 * Waits until `expression` (about document.activeElement) gives `expected`:
 * the pages move focus in an effect after rendering, which on a busy machine
 * runs a moment after the text the test saw. Fails with what it gives instead.
 */
async function focusSettles(page: Page, expression: string, expected: string, what: string): Promise<void> {
  try {
    await page.waitForFunction(`(${expression}) === ${JSON.stringify(expected)}`, undefined, { timeout: 10_000 });
  } catch {
    assert.equal(await page.evaluate<string | undefined>(expression), expected, what);
  }
}

/** The element's text with Intl's non-breaking spaces ("R$\u00a034,90") as plain ones. */
async function textOf(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? "").replace(/\u00a0/g, " ");
}

describe("storefront", () => {
  it("an anonymous basket joins the account made at checkout, and the order page follows the order live to paid", async () => {
    await asShopper("purchase-paid", async ({ page }) => {
      await addToBasket(page, "Mel Silvestre 500 g", 2);
      await page.getByRole("link", { name: "Ver a cesta" }).click();
      await page.getByRole("heading", { level: 1, name: "Sua cesta" }).waitFor();
      assert.equal(await textOf(page.getByTestId("basket-total")), "R$ 69,80");
      await page.getByRole("link", { name: "criar uma conta" }).click();

      const shopper = newShopper("compra");
      await page.getByLabel("Nome").fill(shopper.name);
      await page.getByLabel("E-mail").fill(shopper.email);
      await page.getByLabel("Senha").fill(shopper.password);
      await page.getByRole("button", { name: "Criar conta" }).click();
      await page.getByRole("heading", { level: 1, name: "Finalizar compra" }).waitFor();
      assert.equal(await page.getByTestId("basket-units").textContent(), "2 itens", "the merged basket holds the two units");

      await fillCheckout(page);
      await page.getByRole("button", { name: "Fazer o pedido" }).click();
      await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
      await page.getByTestId("order-status").filter({ hasText: "Pago" }).waitFor({ timeout: 30_000 });
      const reached = await page.locator(".timeline li").evaluateAll((items) => items.map((item) => item.getAttribute("data-status")));
      assert.deepEqual(reached, ["SUBMITTED", "AWAITING_VALIDATION", "STOCK_CONFIRMED", "PAID"]);
      await assertAccessible(page);
    });
  });

  it("a declined card shows the order cancelled with the payment's reason", async () => {
    await asShopper("purchase-declined", async ({ page }) => {
      await register(page, newShopper("recusado"));
      await addToBasket(page, "Caneca Favo Esmaltada", 1);
      await page.goto("/checkout");
      await fillCheckout(page, { ...approvedCard, number: declinedTestCard.number, holder: "Cartao Recusado" });
      await page.getByRole("button", { name: "Fazer o pedido" }).click();
      await page.getByTestId("order-status").filter({ hasText: "Cancelado" }).waitFor({ timeout: 30_000 });
      assert.equal(await page.getByTestId("cancel-reason").textContent(), `Motivo: ${declinedTestCard.reason}`);
    });
  });

  it("an admin lists the paid orders, sees a shopper's new order among them and ships it from the list", async () => {
    await asShopper("admin-ship-order", async ({ page }) => {
      await register(page, newShopper("envio"));
      await addToBasket(page, "Caneca Favo Esmaltada", 1);
      await page.goto("/checkout");
      await fillCheckout(page);
      await page.getByRole("button", { name: "Fazer o pedido" }).click();
      await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
      const orderId = new URL(page.url()).pathname.split("/").at(-1) ?? "";
      await page.getByTestId("order-status").filter({ hasText: "Pago" }).waitFor({ timeout: 30_000 });

      await signIn(page, adminEmail, adminPassword, "/admin");
      await page.getByLabel("Situação dos pedidos").selectOption({ label: "Pago" });
      const row = page.locator(`tr[data-order-id="${orderId}"]`);
      await row.waitFor();
      assert.equal(await row.getByTestId("admin-order-status").textContent(), "Pago");
      assert.match(await textOf(row), /R\$ \d+,\d{2}/, "the total in reais");
      await assertAccessible(page);

      // By keyboard: the button takes Enter, and focus stays on the row once the button is gone.
      const ship = row.getByRole("button", { name: `Enviar pedido ${orderId.slice(0, 8)}` });
      await ship.focus();
      await page.keyboard.press("Enter");
      await row.getByTestId("admin-order-status").filter({ hasText: "Enviado" }).waitFor();
      assert.equal(await row.getByRole("button").count(), 0, "a shipped order has nothing left to ship");
      await focusSettles(page, "document.activeElement?.closest('tr')?.dataset.orderId", orderId, "focus stays on the shipped order's row");

      await page.getByLabel("Situação dos pedidos").selectOption({ label: "Enviado" });
      await page.locator(`tr[data-order-id="${orderId}"][data-status="SHIPPED"]`).waitFor();
      await assertAccessible(page);
    });
  });

  it("a price changed by an admin shows old and new price on the basket page of a shopper holding the item", async () => {
    await asShopper("price-change-notice", async ({ page }) => {
      await register(page, newShopper("preco"));
      await addToBasket(page, "Vela de Cera de Abelha", 1);
      await page.goto("/basket");
      await page.getByTestId("unit-price").filter({ hasText: "R$ 34,90" }).waitFor();

      await asShopper("admin-price-change", async ({ page: admin }) => {
        await signIn(admin, adminEmail, adminPassword, "/admin");
        await admin.getByLabel("Buscar item pelo nome").fill("Vela de Cera");
        await admin.getByLabel("Novo preço de Vela de Cera de Abelha (R$)").fill("39,90");
        await admin.getByRole("button", { name: "Mudar preço" }).click();
        await admin.locator(".admin-item", { hasText: "R$ 39,90" }).waitFor();
        await assertAccessible(admin);
      });

      // The basket page re-reads the basket while open: no reload needed.
      await page.getByTestId("price-changed").waitFor({ timeout: 30_000 });
      assert.equal(await textOf(page.getByTestId("old-price")), "R$ 34,90");
      assert.equal(await textOf(page.getByTestId("new-price")), "R$ 39,90");
      await assertAccessible(page);
    });
  });

  it("a voucher applied on the basket page shows subtotal, discount and total; an unknown code is refused at the field", async () => {
    const code = `MEL${Date.now().toString(36).toUpperCase()}`;
    const login = await fetch(`${mesh.url}/api/v1/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: adminEmail, password: adminPassword }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    const { accessToken } = (await login.json()) as { accessToken: string };
    const created = await fetch(`${mesh.url}/api/v1/vouchers`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ code, percentOff: 10, remainingRedemptions: 5, active: true }),
    });
    assert.equal(created.status, 200, await created.clone().text());

    await asShopper("voucher", async ({ page }) => {
      await register(page, newShopper("cupom"));
      await addToBasket(page, "Mel Silvestre 500 g", 2);
      await page.goto("/basket");
      await page.getByTestId("basket-total").filter({ hasText: "R$ 69,80" }).waitFor();
      assert.equal(await page.getByTestId("basket-discount").count(), 0, "no discount line without a voucher");

      await page.getByLabel("Código do cupom").fill("NAO-EXISTE");
      await page.getByRole("button", { name: "Aplicar cupom" }).click();
      await page.getByRole("alert").waitFor();
      assert.match(await textOf(page.getByRole("alert")), /NAO-EXISTE/, "the refusal names the code");
      assert.equal(await page.getByTestId("voucher-applied").count(), 0);

      // Codes match whatever the case.
      await page.getByLabel("Código do cupom").fill(code.toLowerCase());
      await page.getByRole("button", { name: "Aplicar cupom" }).click();
      await page.getByTestId("voucher-applied").waitFor();
      assert.equal(await page.getByTestId("voucher-code").textContent(), code);
      assert.equal(await textOf(page.getByTestId("basket-subtotal")), "R$ 69,80");
      // 10 % of 6980 centavos is 698: half-even has nothing to round here.
      assert.equal(await textOf(page.getByTestId("basket-discount")), "−R$ 6,98");
      assert.equal(await textOf(page.getByTestId("basket-total")), "R$ 62,82");
      await assertAccessible(page);

      // The page re-reads the basket every few seconds; the voucher stays.
      await page.reload();
      await page.getByTestId("voucher-applied").waitFor();
      assert.equal(await textOf(page.getByTestId("basket-total")), "R$ 62,82");

      await page.getByRole("button", { name: "Remover cupom" }).click();
      await page.getByLabel("Código do cupom").waitFor();
      assert.equal(await textOf(page.getByTestId("basket-total")), "R$ 69,80");
      assert.equal(await page.getByTestId("basket-discount").count(), 0);
    });
  });

  it("the session renews itself before the access token expires, from a cookie page script cannot read", async () => {
    await asShopper("silent-refresh", async ({ context, page }) => {
      const shopper = newShopper("renova");
      await register(page, shopper);
      const signedInAt = Date.now();
      const refreshes: number[] = [];
      page.on("response", (response) => {
        if (new URL(response.url()).pathname === refreshPath && response.headers()["grpc-status"] === undefined) refreshes.push(Date.now());
      });
      // Two renewals: the second one is made with a token issued by the first.
      await page.waitForResponse((response) => new URL(response.url()).pathname === refreshPath, { timeout: 15_000 });
      await page.waitForResponse((response) => new URL(response.url()).pathname === refreshPath, { timeout: 15_000 });
      assert.ok(Date.now() - signedInAt > accessTokenTtlSeconds * 1000, "past the first access token's expiry");

      await page.getByRole("link", { name: "Pedidos" }).click();
      await page.getByText("Nenhum pedido ainda.").waitFor();
      assert.equal(await page.getByTestId("signed-in-as").textContent(), shopper.name);
      assert.equal(await page.getByTestId("session-notice").count(), 0);

      assert.equal(await page.evaluate<string>("document.cookie"), "", "the refresh token is not visible to page script");
      const [cookie] = await context.cookies();
      assert.equal(cookie?.name, "mel_refresh");
      assert.equal(cookie?.httpOnly, true);
      assert.equal(cookie?.secure, true);
      assert.equal(cookie?.sameSite, "Strict");
      assert.equal(cookie?.path, "/mel.identity.v1.IdentityService/");
    });
  });

  it("a reused refresh token signs the shopper out and the page says why", async () => {
    await asShopper("refresh-reuse", async ({ context, page }) => {
      await register(page, newShopper("reuso"));
      const [spent] = await context.cookies();
      assert.ok(spent, "signed in with a refresh cookie");
      await page.waitForResponse((response) => new URL(response.url()).pathname === refreshPath && response.status() === 200, { timeout: 15_000 });
      // The old token again, as a thief holding a copy would present it.
      await context.addCookies([spent]);
      await page.reload();
      await page.getByTestId("session-notice").waitFor();
      assert.match((await page.getByTestId("session-notice").textContent()) ?? "", /already used, so its session has been signed out everywhere/);
      assert.equal(await page.getByTestId("signed-in-as").count(), 0);
      await assertAccessible(page);
    });
  });

  it("bad input in every form gets the server's message at the field, and nothing crashes", async () => {
    await asShopper("form-errors", async ({ page }) => {
      const fieldError = (name: string) => page.locator(`[data-field-error="${name}"]`);

      await page.goto("/register");
      await page.getByLabel("E-mail").fill(newShopper("curta").email);
      await page.getByLabel("Senha").fill("curta");
      await page.getByRole("button", { name: "Criar conta" }).click();
      assert.equal(await fieldError("password").textContent(), "must be at least 8 characters (got 5)");
      await focusSettles(page, "document.activeElement?.id", "field-password", "focus moves to the refused field");
      await assertAccessible(page);

      await page.goto("/signin");
      await page.getByLabel("Senha").fill("qualquer-coisa");
      await page.getByRole("button", { name: "Entrar", exact: true }).click();
      assert.equal(await fieldError("email").textContent(), "is required");

      await register(page, newShopper("erros"));
      await addToBasket(page, "Boné Lojas Mel", 1);
      await page.goto("/checkout");
      await fillCheckout(page, { ...approvedCard, number: "4111 1111 1111 1112" });
      await page.getByRole("button", { name: "Fazer o pedido" }).click();
      assert.equal(await fieldError("card.number").textContent(), "is not a valid card number (check digit mismatch); check it for typos");
      await page.getByLabel("Número do cartão").fill(approvedCard.number);
      await page.getByLabel("Rua e número").fill("");
      await page.getByRole("button", { name: "Fazer o pedido" }).click();
      assert.equal(await fieldError("address.street").textContent(), "is required");
      await assertAccessible(page);

      await signIn(page, adminEmail, adminPassword, "/admin");
      await page.getByLabel("Buscar item pelo nome").fill("Boné Trucker");
      await page.getByLabel("Novo preço de Boné Trucker Colmeia (R$)").fill("muito caro");
      await page.getByRole("button", { name: "Mudar preço" }).click();
      assert.equal(await fieldError("price").textContent(), "must be a whole number of minor units, 0 or more (got -1)");
      await page.getByLabel("Ajuste de estoque de Boné Trucker Colmeia (+/−)").fill("0");
      await page.getByRole("button", { name: "Ajustar estoque" }).click();
      assert.equal(await fieldError("delta").textContent(), "must be a non-zero whole number of units (got 0)");
      await page.getByRole("button", { name: "Criar item" }).click();
      assert.equal(await fieldError("item.name").textContent(), "must not be empty");
    });
  });

  it("every page passes axe without serious or critical violations", async () => {
    await asShopper("accessibility", async ({ page }) => {
      for (const path of ["/", "/signin", "/register", "/basket", "/nao-existe"]) {
        await page.goto(path);
        await page.locator("h1").waitFor();
        await assertAccessible(page);
      }
      await page.goto("/?q=Favo");
      await page.getByRole("link", { name: "Favo de Mel 400 g" }).click();
      await page.getByRole("heading", { level: 1, name: "Favo de Mel 400 g" }).waitFor();
      await assertAccessible(page);
      await focusSettles(page, "document.activeElement?.tagName", "H1", "focus is on the new page's heading after navigation");

      await register(page, newShopper("axe"), "/orders");
      await page.getByText("Nenhum pedido ainda.").waitFor();
      await assertAccessible(page);
      await page.goto("/checkout");
      await page.getByRole("heading", { level: 1, name: "Finalizar compra" }).waitFor();
      await assertAccessible(page);
    });
  });

  it("serves the site: index with no-cache and a self-only CSP, hashed assets for a year, pictures for a day, page paths as the app", async () => {
    const index = await fetch(`${mesh.url}/`, { headers: { accept: "text/html" } });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.match(
      index.headers.get("content-security-policy") ?? "",
      /^default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'/,
    );
    const html = await index.text();
    const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);

    const asset = await fetch(`${mesh.url}${script}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");

    const picture = await fetch(`${mesh.url}/pictures/mel-silvestre-500-g.svg`);
    assert.equal(picture.status, 200);
    assert.equal(picture.headers.get("content-type"), "image/svg+xml");
    assert.equal(picture.headers.get("cache-control"), "public, max-age=86400");

    const deepLink = await fetch(`${mesh.url}/orders/123`, { headers: { accept: "text/html" } });
    assert.equal(deepLink.status, 200);
    assert.equal(await deepLink.text(), html);

    const api = await fetch(`${mesh.url}/api/v1/catalog/items?pageSize=1`, { headers: { accept: "text/html,application/json" } });
    assert.equal(api.headers.get("content-type"), "application/json; charset=utf-8");
  });
});
