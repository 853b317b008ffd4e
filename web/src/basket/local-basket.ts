// The basket of a shopper who has not signed in: product ids and quantities
// in this browser's storage, priced from the catalogue whenever it is shown.
// On sign-in each line is added to the saved basket with AddItem, so the
// basket service adds the quantities, applies its limits and prices them.

export interface LocalLine {
  productId: string;
  quantity: number;
}

const key = "mel.anonymous-basket";

export function readLocalBasket(): LocalLine[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((line): line is LocalLine => typeof line?.productId === "string" && Number.isInteger(line?.quantity) && line.quantity > 0);
  } catch {
    // A value written by another version of the page or by hand: start empty.
    return [];
  }
}

export function writeLocalBasket(lines: readonly LocalLine[]): void {
  if (lines.length === 0) localStorage.removeItem(key);
  else localStorage.setItem(key, JSON.stringify(lines));
}

export function addLocalLine(productId: string, quantity: number): LocalLine[] {
  const lines = readLocalBasket();
  const existing = lines.find((line) => line.productId === productId);
  const next = existing
    ? lines.map((line) => (line === existing ? { ...line, quantity: line.quantity + quantity } : line))
    : [...lines, { productId, quantity }];
  writeLocalBasket(next);
  return next;
}

export function setLocalQuantity(productId: string, quantity: number): LocalLine[] {
  const next = readLocalBasket()
    .map((line) => (line.productId === productId ? { ...line, quantity } : line))
    .filter((line) => line.quantity > 0);
  writeLocalBasket(next);
  return next;
}
