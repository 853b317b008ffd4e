// The payment card a buyer types at checkout: its checks (Luhn, expiry, CVV),
// and the masked PaymentMethod that replaces it. The card number and CVV
// exist only in the request: what is stored, published or logged is the brand,
// the last four digits and an opaque token (HMAC-SHA256 of the number under
// MEL_BASKET_PAYMENT_TOKEN_KEY), from which the number cannot be recovered.
import { createHmac } from "node:crypto";
import { InvalidArgumentError } from "../../platform/errors/index.js";

export interface PaymentCardInput {
  number: string;
  holderName: string;
  expiryMonth: number;
  expiryYear: number;
  securityCode: string;
}

export interface PaymentMethod {
  cardBrand: "visa" | "mastercard" | "amex" | "elo" | "unknown";
  last4: string;
  expiryMonth: number;
  expiryYear: number;
  holderName: string;
  paymentToken: string;
}

export const holderNameMaxLength = 100;
/** A card valid for longer than this is a typo. */
const maxYearsAhead = 20;

/** True when `digits` passes the Luhn check (ISO/IEC 7812). */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

// Elo's ranges overlap Visa's and Mastercard's leading digits, so they are tried first.
const eloPrefixes = [
  "401178",
  "401179",
  "431274",
  "438935",
  "451416",
  "457393",
  "457631",
  "457632",
  "504175",
  "506699",
  "5067",
  "509",
  "627780",
  "636297",
  "636368",
  "650",
  "6516",
  "6550",
];

export function cardBrand(digits: string): PaymentMethod["cardBrand"] {
  if (eloPrefixes.some((prefix) => digits.startsWith(prefix))) return "elo";
  if (/^3[47]/.test(digits)) return "amex";
  if (/^4/.test(digits)) return "visa";
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return "mastercard";
  return "unknown";
}

/** Checks every field of the card (each error names its field); returns the card number's digits. */
export function validateCard(card: PaymentCardInput | undefined, now: Date): string {
  if (!card) throw new InvalidArgumentError("card", "is required: number, holder_name, expiry_month, expiry_year and security_code");
  const digits = card.number.replace(/[\s-]/g, "");
  if (digits === "") throw new InvalidArgumentError("card.number", "is required");
  if (!/^\d{12,19}$/.test(digits)) throw new InvalidArgumentError("card.number", "must be 12 to 19 digits (spaces and dashes allowed between groups)");
  if (!passesLuhn(digits)) throw new InvalidArgumentError("card.number", "is not a valid card number (check digit mismatch); check it for typos");
  const holderName = card.holderName.trim();
  if (holderName === "") throw new InvalidArgumentError("card.holder_name", "is required: the name as printed on the card");
  if (holderName.length > holderNameMaxLength) throw new InvalidArgumentError("card.holder_name", `must be at most ${holderNameMaxLength} characters`);
  if (!Number.isInteger(card.expiryMonth) || card.expiryMonth < 1 || card.expiryMonth > 12) {
    throw new InvalidArgumentError("card.expiry_month", `must be 1 to 12 (got ${card.expiryMonth})`);
  }
  const thisYear = now.getUTCFullYear();
  if (!Number.isInteger(card.expiryYear) || card.expiryYear < 2000 || card.expiryYear > thisYear + maxYearsAhead) {
    throw new InvalidArgumentError("card.expiry_year", `must be the four-digit year, ${thisYear} to ${thisYear + maxYearsAhead} (got ${card.expiryYear})`);
  }
  // A card is good through the last day of its expiry month.
  const thisMonth = thisYear * 12 + now.getUTCMonth();
  if (card.expiryYear * 12 + (card.expiryMonth - 1) < thisMonth) {
    throw new InvalidArgumentError(
      "card.expiry_year",
      `the card expired in ${String(card.expiryMonth).padStart(2, "0")}/${card.expiryYear}; use a card that is still valid`,
    );
  }
  if (!/^\d{3,4}$/.test(card.securityCode)) throw new InvalidArgumentError("card.security_code", "must be the 3 or 4 digits on the card");
  return digits;
}

/** The opaque token for a card number: the same card always gives the same token under one key. */
export function paymentTokenOf(digits: string, key: Uint8Array): string {
  return `pt_${createHmac("sha256", key).update(digits).digest("base64url")}`;
}

/** What may be stored and published instead of the card. */
export function maskCard(card: PaymentCardInput, digits: string, key: Uint8Array): PaymentMethod {
  return {
    cardBrand: cardBrand(digits),
    last4: digits.slice(-4),
    expiryMonth: card.expiryMonth,
    expiryYear: card.expiryYear,
    holderName: card.holderName.trim(),
    paymentToken: paymentTokenOf(digits, key),
  };
}
