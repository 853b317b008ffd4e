// One view of the basket for the pages, whoever holds it: the basket service
// for a signed-in shopper, this browser's storage (priced by the catalogue)
// before sign-in.
import { create } from "@bufbuild/protobuf";
import { signal } from "@preact/signals";
import type { Basket, BasketVoucher } from "../../../gen/web/mel/basket/v1/basket_pb.js";
import { type Money, MoneySchema } from "../../../gen/web/mel/common/v1/money_pb.js";
import type { Clients } from "../api/clients.js";
import { errorMetadataOf, messageOf } from "../api/errors.js";
import { account } from "../api/session.js";
import { addLocalLine, readLocalBasket, setLocalQuantity, writeLocalBasket } from "./local-basket.js";

export interface ShownLine {
  productId: string;
  productName: string;
  pictureUrl: string;
  unitPrice?: Money | undefined;
  /** The price when the line was added, when the catalogue changed it since. */
  oldUnitPrice?: Money | undefined;
  quantity: number;
}

export interface ShownBasket {
  lines: ShownLine[];
  /** The sum of the lines. */
  subtotal: Money | undefined;
  /** What the applied voucher takes off (zero or absent without one). */
  discount: Money | undefined;
  /** What checkout would charge. */
  total: Money | undefined;
  /** The voucher the basket holds; vouchers need a saved basket, so never before sign-in. */
  voucher: BasketVoucher | undefined;
  /** Why the basket dropped the voucher it held (expired, used up…); empty otherwise. */
  voucherRemovedReason: string;
  /** Products of the local basket that the catalogue no longer has. */
  missing: string[];
}

function shownSaved(basket: Basket | undefined): ShownBasket {
  const lines: ShownLine[] = basket?.lines ?? [];
  basketUnits.value = countUnits(lines);
  return {
    lines,
    subtotal: basket?.subtotal ?? basket?.total,
    discount: basket?.discount,
    total: basket?.total,
    voucher: basket?.voucher,
    voucherRemovedReason: basket?.voucherRemovedReason ?? "",
    missing: [],
  };
}

/** Why lines of the anonymous basket could not join the saved one at the last sign-in. */
export const mergeProblems = signal<string[]>([]);

/** Units in the basket, for the header. */
export const basketUnits = signal(0);

function countUnits(lines: readonly { quantity: number }[]): number {
  return lines.reduce((sum, line) => sum + line.quantity, 0);
}

export function createBasketStore(clients: Clients) {
  async function load(): Promise<ShownBasket> {
    if (account.value) {
      const { basket } = await clients.basket.getBasket({});
      return shownSaved(basket);
    }
    const local = readLocalBasket();
    basketUnits.value = countUnits(local);
    const none = { discount: undefined, voucher: undefined, voucherRemovedReason: "" };
    if (local.length === 0) return { lines: [], subtotal: undefined, total: undefined, ...none, missing: [] };
    const { items, missingIds } = await clients.catalog.getItemsByIds({ ids: local.map((line) => line.productId) });
    const lines: ShownLine[] = [];
    for (const line of local) {
      const item = items.find((candidate) => candidate.id === line.productId);
      if (!item) continue;
      lines.push({
        productId: item.id,
        productName: item.name,
        pictureUrl: item.pictureUrl,
        unitPrice: item.price,
        oldUnitPrice: undefined,
        quantity: line.quantity,
      });
    }
    const currencyCode = lines[0]?.unitPrice?.currencyCode ?? "BRL";
    const amountMinor = lines.reduce((sum, line) => sum + (line.unitPrice?.amountMinor ?? 0n) * BigInt(line.quantity), 0n);
    const total = create(MoneySchema, { currencyCode, amountMinor });
    return { lines, subtotal: total, total, ...none, missing: missingIds };
  }

  /** Applies a voucher code to the saved basket; ordering decides whether it may be used. */
  async function applyVoucher(code: string): Promise<ShownBasket> {
    const { basket } = await clients.basket.applyVoucher({ code });
    return shownSaved(basket);
  }

  async function removeVoucher(): Promise<ShownBasket> {
    const { basket } = await clients.basket.removeVoucher({});
    return shownSaved(basket);
  }

  async function add(productId: string, quantity: number): Promise<void> {
    if (account.value) {
      const { basket } = await clients.basket.addItem({ productId, quantity });
      basketUnits.value = countUnits(basket?.lines ?? []);
      return;
    }
    basketUnits.value = countUnits(addLocalLine(productId, quantity));
  }

  async function setQuantity(productId: string, quantity: number): Promise<void> {
    if (account.value) {
      const { basket } = quantity > 0 ? await clients.basket.updateItemQuantity({ productId, quantity }) : await clients.basket.removeItem({ productId });
      basketUnits.value = countUnits(basket?.lines ?? []);
      return;
    }
    basketUnits.value = countUnits(setLocalQuantity(productId, quantity));
  }

  /**
   * Moves the anonymous basket into the saved one after sign-in: AddItem per
   * line, so the basket service adds to what was saved, applies its limits and
   * prices each line. A line that would pass the per-product limit is capped
   * at it (the refusal says the limit and what the basket holds); a line
   * refused for another reason stays out, and the reasons are returned.
   */
  async function mergeLocal(): Promise<string[]> {
    const problems: string[] = [];
    for (const line of readLocalBasket()) {
      try {
        await clients.basket.addItem({ productId: line.productId, quantity: line.quantity });
      } catch (error: unknown) {
        const { limit, in_basket: inBasket } = errorMetadataOf(error);
        const room = limit !== undefined && inBasket !== undefined ? Number(limit) - Number(inBasket) : 0;
        if (room > 0 && room < line.quantity) {
          try {
            await clients.basket.addItem({ productId: line.productId, quantity: room });
            problems.push(`${room} de ${line.quantity} unidades de um produto couberam na cesta (no máximo ${limit} por produto)`);
            continue;
          } catch (retryError: unknown) {
            problems.push(messageOf(retryError));
            continue;
          }
        }
        problems.push(messageOf(error));
      }
    }
    writeLocalBasket([]);
    mergeProblems.value = problems;
    await load();
    return problems;
  }

  return { load, add, setQuantity, mergeLocal, applyVoucher, removeVoucher };
}

export type BasketStore = ReturnType<typeof createBasketStore>;
