// `npm run load -- --users 50 --duration 2m [--url http://127.0.0.1:8080] [--slo p99=300ms,errors=0.1%]`
//
// Drives a running mesh through its gateway as shoppers do: each user signs
// up and logs in, then picks one task after another by weight (browse the
// catalogue 10, open a product page 5, look at the basket 3, add to the basket
// 2, check out 1) with no pause between them. A progress line is redrawn every
// second; at the end a table gives requests/s, p50/p95/p99 and errors per
// route, and how many of the orders placed reached PAID. With --slo it exits
// 1 when the p99 over all routes or the share of failed requests is above
// the limit. Sign-up goes through the gateway's rate limit on identity
// (MEL_GATEWAY_AUTH_RATE_LIMIT_MAX): a 429 is waited out as Retry-After says.
import { randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { durationMs as durationSchema } from "../platform/config/index.js";
import { formatNumber, percentile, printTable } from "./harness.js";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "10" },
    duration: { type: "string", default: "30s" },
    url: { type: "string", default: process.env.MEL_LOAD_URL ?? "http://127.0.0.1:8080" },
    slo: { type: "string" },
  },
});
const users = Number(values.users);
if (!Number.isInteger(users) || users < 1) fail(`--users must be a whole number above 0, not ${values.users}`);
const durationMs = parseDuration(values.duration, "--duration");
const base = values.url.replace(/\/$/, "");
const slo = values.slo === undefined ? undefined : parseSlo(values.slo);

type Route = "browse" | "product page" | "basket" | "add to basket" | "checkout" | "sign-up";
const weights: Array<[Exclude<Route, "sign-up">, number]> = [
  ["browse", 10],
  ["product page", 5],
  ["basket", 3],
  ["add to basket", 2],
  ["checkout", 1],
];
const totalWeight = weights.reduce((sum, [, weight]) => sum + weight, 0);
const stats = new Map<Route, { latencies: number[]; errors: number }>();
const orders: Array<{ id: string; token: string }> = [];
let lastError = "";

interface Shopper {
  token: string;
  basketHasItems: boolean;
}

async function request(route: Route, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<unknown> {
  const entry = stats.get(route) ?? { latencies: [], errors: 0 };
  stats.set(route, entry);
  const started = performance.now();
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    entry.latencies.push(performance.now() - started);
    if (!response.ok) {
      entry.errors += 1;
      lastError = `${route}: HTTP ${response.status} ${text.slice(0, 200)}`;
      return { httpStatus: response.status, retryAfter: Number(response.headers.get("retry-after") ?? "1") };
    }
    return text === "" ? {} : JSON.parse(text);
  } catch (error) {
    entry.latencies.push(performance.now() - started);
    entry.errors += 1;
    lastError = `${route}: ${error instanceof Error ? error.message : String(error)}`;
    return undefined;
  }
}

async function signUp(index: number): Promise<Shopper> {
  const email = `load-${index}-${randomBytes(4).toString("hex")}@load.lojasmel.test`;
  const password = `senha-${randomBytes(8).toString("hex")}`;
  for (const step of ["register", "login"] as const) {
    for (;;) {
      const answer = (await request("sign-up", "POST", `/api/v1/identity/${step}`, { body: { email, password, displayName: `Cliente ${index}` } })) as
        | { httpStatus?: number; retryAfter?: number; accessToken?: string }
        | undefined;
      if (answer?.httpStatus === 429) {
        await new Promise((wake) => setTimeout(wake, (answer.retryAfter ?? 1) * 1000));
        continue;
      }
      if (answer === undefined || answer.httpStatus !== undefined) throw new Error(`sign-up of user ${index} failed: ${lastError}`);
      if (step === "login") return { token: answer.accessToken ?? "", basketHasItems: false };
      break;
    }
  }
  throw new Error("unreachable");
}

async function shop(shopper: Shopper, itemIds: string[], until: number): Promise<void> {
  while (performance.now() < until) {
    const task = pickTask(Math.random() * totalWeight);
    const itemId = itemIds[Math.floor(Math.random() * itemIds.length)] ?? "";
    switch (task) {
      case "browse":
        await request(task, "GET", "/api/v1/catalog/items?pageSize=10");
        break;
      case "product page":
        await request(task, "GET", `/api/v1/catalog/items/${encodeURIComponent(itemId)}`);
        break;
      case "basket":
        await request(task, "GET", "/api/v1/basket", { token: shopper.token });
        break;
      case "add to basket":
        await addToBasket(shopper, itemId);
        break;
      case "checkout": {
        if (!shopper.basketHasItems) await addToBasket(shopper, itemId);
        const answer = (await request(task, "POST", "/api/v1/basket/checkout", { token: shopper.token, body: checkoutBody() })) as
          | { orderId?: string }
          | undefined;
        if (answer?.orderId) {
          orders.push({ id: answer.orderId, token: shopper.token });
          shopper.basketHasItems = false;
        }
        break;
      }
    }
  }
}

function pickTask(at: number): (typeof weights)[number][0] {
  let left = at;
  for (const [task, weight] of weights) {
    left -= weight;
    if (left < 0) return task;
  }
  return "browse";
}

async function addToBasket(shopper: Shopper, itemId: string): Promise<void> {
  const answer = (await request("add to basket", "POST", "/api/v1/basket/items", { token: shopper.token, body: { productId: itemId, quantity: 1 } })) as
    | { httpStatus?: number }
    | undefined;
  if (answer !== undefined && answer.httpStatus === undefined) shopper.basketHasItems = true;
}

function checkoutBody() {
  return {
    requestId: randomUUID(),
    address: { street: "Rua das Flores 12", city: "Curitiba", state: "PR", country: "BR", zipCode: "80010-000" },
    card: { number: "4111111111111111", holderName: "Ana Silva", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 3, securityCode: "123" },
  };
}

function progress(started: number): string {
  let requests = 0;
  let errors = 0;
  for (const entry of stats.values()) {
    requests += entry.latencies.length;
    errors += entry.errors;
  }
  const seconds = (performance.now() - started) / 1000;
  return `${formatNumber(seconds, 0)} s  ${formatNumber(requests)} requests  ${formatNumber(requests / Math.max(seconds, 0.001))} req/s  ${formatNumber(errors)} errors  ${orders.length} orders`;
}

const listing = (await fetch(`${base}/api/v1/catalog/items?pageSize=50`).then(
  (response) => response.json(),
  (error: unknown) => fail(`cannot reach the gateway at ${base}: ${error instanceof Error ? error.message : String(error)}`),
)) as { items?: Array<{ id: string; availableStock?: number }> };
const itemIds = (listing.items ?? []).filter((item) => (item.availableStock ?? 0) > 0).map((item) => item.id);
if (itemIds.length === 0) fail(`the catalogue at ${base} has no item in stock to shop for`);

console.log(`load: ${users} users for ${values.duration} against ${base}`);
const shoppers = await Promise.all(Array.from({ length: users }, (_, index) => signUp(index)));
stats.delete("sign-up");
const started = performance.now();
const ticker = setInterval(() => process.stdout.write(`\r${progress(started)}   `), 1000);
await Promise.all(shoppers.map((shopper) => shop(shopper, itemIds, started + durationMs)));
clearInterval(ticker);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`\r${progress(started)}\n`);

const paid = (
  await Promise.all(
    orders.map(async (order) => {
      const answer = (await fetch(`${base}/api/v1/orders/${encodeURIComponent(order.id)}`, { headers: { authorization: `Bearer ${order.token}` } })
        .then((response) => response.json())
        .catch(() => undefined)) as { order?: { status?: string } } | undefined;
      return answer?.order?.status?.endsWith("PAID") === true;
    }),
  )
).filter(Boolean).length;

const all: number[] = [];
let allErrors = 0;
const rows = [...stats].map(([route, entry]) => {
  all.push(...entry.latencies);
  allErrors += entry.errors;
  const sorted = Float64Array.from(entry.latencies).sort();
  return [
    route,
    formatNumber(sorted.length),
    formatNumber(sorted.length / seconds, 1),
    ...[50, 95, 99].map((p) => formatNumber(percentile(sorted, p), 1)),
    formatNumber(entry.errors),
  ];
});
const sortedAll = Float64Array.from(all).sort();
rows.push([
  "all",
  formatNumber(all.length),
  formatNumber(all.length / seconds, 1),
  ...[50, 95, 99].map((p) => formatNumber(percentile(sortedAll, p), 1)),
  formatNumber(allErrors),
]);
printTable(`${users} users, ${formatNumber(seconds, 1)} s`, ["route", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows);
console.log(`\norders placed: ${orders.length}, PAID by the end: ${paid} (an order placed in the last seconds may still be on its way)`);
if (allErrors > 0) console.log(`last error: ${lastError}`);

if (slo) {
  const p99 = percentile(sortedAll, 99);
  const errorShare = all.length === 0 ? 1 : allErrors / all.length;
  const misses = [
    ...(slo.p99Ms !== undefined && p99 > slo.p99Ms ? [`p99 ${formatNumber(p99, 1)} ms > ${slo.p99Ms} ms`] : []),
    ...(slo.errorShare !== undefined && errorShare > slo.errorShare ? [`errors ${(errorShare * 100).toFixed(3)} % > ${slo.errorShare * 100} %`] : []),
  ];
  console.log(misses.length === 0 ? "SLO met" : `SLO missed: ${misses.join("; ")}`);
  if (misses.length > 0) process.exitCode = 1;
}

/** "p99=300ms,errors=0.1%" */
function parseSlo(text: string): { p99Ms?: number; errorShare?: number } {
  const result: { p99Ms?: number; errorShare?: number } = {};
  for (const part of text.split(",")) {
    const [key, value] = part.split("=").map((piece) => piece.trim());
    if (key === "p99" && value) result.p99Ms = parseDuration(value, "--slo p99");
    else if (key === "errors" && value && /^\d+(\.\d+)?%$/.test(value)) result.errorShare = Number(value.slice(0, -1)) / 100;
    else fail(`--slo takes p99=<duration> and errors=<percent>, e.g. p99=300ms,errors=0.1%; not "${part}"`);
  }
  return result;
}

function parseDuration(text: string, flag: string): number {
  const parsed = durationSchema().safeParse(text);
  if (!parsed.success) fail(`${flag} takes a duration such as 300ms, 30s or 2m, not "${text}"`);
  return parsed.data;
}

function fail(message: string): never {
  process.stderr.write(`load: ${message}\n`);
  process.exit(2);
}
