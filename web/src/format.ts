// How the storefront writes money, dates and order states for a Brazilian shopper.
import type { Money } from "../../gen/web/mel/common/v1/money_pb.js";
import { OrderStatus } from "../../gen/web/mel/ordering/v1/ordering_pb.js";

const formatters = new Map<string, Intl.NumberFormat>();

// Minor units to a decimal amount: exact for the two-decimal currencies the shop sells in.
export function formatMoney(money: Money | undefined): string {
  if (!money) return "";
  const currency = money.currencyCode || "BRL";
  let formatter = formatters.get(currency);
  if (!formatter) {
    formatter = new Intl.NumberFormat("pt-BR", { style: "currency", currency });
    formatters.set(currency, formatter);
  }
  const digits = formatter.resolvedOptions().maximumFractionDigits ?? 2;
  return formatter.format(Number(money.amountMinor) / 10 ** digits);
}

const dateTime = new Intl.DateTimeFormat("pt-BR", { dateStyle: "short", timeStyle: "medium" });

export function formatDate(date: Date | undefined): string {
  return date ? dateTime.format(date) : "";
}

export const statusLabels: Record<OrderStatus, string> = {
  [OrderStatus.UNSPECIFIED]: "Desconhecido",
  [OrderStatus.SUBMITTED]: "Recebido",
  [OrderStatus.AWAITING_VALIDATION]: "Verificando estoque",
  [OrderStatus.STOCK_CONFIRMED]: "Estoque confirmado",
  [OrderStatus.PAID]: "Pago",
  [OrderStatus.SHIPPED]: "Enviado",
  [OrderStatus.CANCELLED]: "Cancelado",
};

/** The buyer may cancel until the payment went through. */
export function isCancellable(status: OrderStatus): boolean {
  return status === OrderStatus.SUBMITTED || status === OrderStatus.AWAITING_VALIDATION || status === OrderStatus.STOCK_CONFIRMED;
}

export interface StockState {
  label: string;
  kind: "in" | "low" | "out";
}

export function stockState(available: number, restockThreshold: number): StockState {
  if (available <= 0) return { label: "Esgotado", kind: "out" };
  if (available <= restockThreshold) return { label: `Últimas ${available} unidades`, kind: "low" };
  return { label: `Em estoque (${available})`, kind: "in" };
}
