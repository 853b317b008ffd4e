// Chromium (Debian's, headless) driven by playwright-core for the storefront
// tests, with the steps a shopper takes, an axe check, and a screenshot of
// each test's last page under test-output/storefront/.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const screenshotDir = join(repositoryRoot, "test-output", "storefront");

export const chromiumPath = process.env.MEL_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (or set MEL_CHROMIUM)`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

export interface ShopperPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors in the page: a test fails when there is any. */
  pageErrors: Error[];
}

export async function openShopper(browser: Browser, baseURL: string): Promise<ShopperPage> {
  const context = await browser.newContext({ baseURL, locale: "pt-BR", viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const pageErrors: Error[] = [];
  page.on("pageerror", (error) => pageErrors.push(error));
  return { context, page, pageErrors };
}

/** Saves the page as test-output/storefront/<name>.png. */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** axe-core on the current page: no serious or critical violation. */
export async function assertAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical");
  assert.deepEqual(
    bad.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`),
    [],
    `axe on ${page.url()}`,
  );
}

let shopperCount = 0;

export function newShopper(label: string): { email: string; password: string; name: string } {
  shopperCount += 1;
  return {
    email: `${label}-${shopperCount}-${randomBytes(4).toString("hex")}@storefront.lojasmel.test`,
    password: "senha-da-loja-1",
    name: `Cliente ${shopperCount}`,
  };
}

export async function register(page: Page, shopper: { email: string; password: string; name: string }, next = "/"): Promise<void> {
  await page.goto(`/register?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Nome").fill(shopper.name);
  await page.getByLabel("E-mail").fill(shopper.email);
  await page.getByLabel("Senha").fill(shopper.password);
  await page.getByRole("button", { name: "Criar conta" }).click();
  await page.getByTestId("signed-in-as").waitFor();
}

export async function signIn(page: Page, email: string, password: string, next = "/"): Promise<void> {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Senha").fill(password);
  await page.getByRole("button", { name: "Entrar", exact: true }).click();
  await page.getByTestId("signed-in-as").waitFor();
}

/** Opens the product page of the catalogue item named `name` (through the search) and adds `quantity` units. */
export async function addToBasket(page: Page, name: string, quantity: number): Promise<void> {
  await page.goto(`/?q=${encodeURIComponent(name)}`);
  await page.getByRole("link", { name }).click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
  await page.getByLabel("Quantidade").fill(String(quantity));
  await page.getByRole("button", { name: "Adicionar à cesta" }).click();
  await page.getByRole("status").filter({ hasText: "na cesta" }).waitFor();
}

export const deliveryAddress = { street: "Rua das Flores, 12", city: "Curitiba", state: "PR", zip: "80010-000" };
export const approvedCard = { number: "4111 1111 1111 1111", holder: "Ana Silva", month: "12", year: String(new Date().getUTCFullYear() + 3), code: "123" };

export async function fillCheckout(page: Page, card: typeof approvedCard = approvedCard, address = deliveryAddress): Promise<void> {
  await page.getByLabel("Rua e número").fill(address.street);
  await page.getByLabel("Cidade").fill(address.city);
  await page.getByLabel("Estado").fill(address.state);
  await page.getByLabel("CEP").fill(address.zip);
  await page.getByLabel("Número do cartão").fill(card.number);
  await page.getByLabel("Nome impresso no cartão").fill(card.holder);
  await page.getByLabel("Mês de validade").fill(card.month);
  await page.getByLabel("Ano de validade").fill(card.year);
  await page.getByLabel("Código de segurança").fill(card.code);
}
