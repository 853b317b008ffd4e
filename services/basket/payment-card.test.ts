// Card checks at checkout and the masked method that replaces the card.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import { cardBrand, maskCard, type PaymentCardInput, passesLuhn, paymentTokenOf, validateCard } from "./payment-card.js";

const now = new Date("2030-06-15T12:00:00Z");
const key = Buffer.from("k".repeat(32));
const visa: PaymentCardInput = { number: "4111 1111 1111 1111", holderName: " Ana Souza ", expiryMonth: 6, expiryYear: 2030, securityCode: "123" };

function fieldOf(card: PaymentCardInput | undefined): string {
  try {
    validateCard(card, now);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    return error.field;
  }
  return "(valid)";
}

describe("card checks", () => {
  test("the Luhn check accepts test card numbers and rejects a changed digit", () => {
    assert.equal(passesLuhn("4111111111111111"), true);
    assert.equal(passesLuhn("5555555555554444"), true);
    assert.equal(passesLuhn("4111111111111112"), false);
  });

  test("a valid card gives its digits, spaces and dashes removed", () => {
    assert.equal(validateCard(visa, now), "4111111111111111");
    assert.equal(validateCard({ ...visa, number: "4111-1111-1111-1111" }, now), "4111111111111111");
  });

  test("each bad field is named", () => {
    assert.equal(fieldOf(undefined), "card");
    assert.equal(fieldOf({ ...visa, number: "" }), "card.number");
    assert.equal(fieldOf({ ...visa, number: "4111 1111 1111 1112" }), "card.number");
    assert.equal(fieldOf({ ...visa, number: "4111abcd11111111" }), "card.number");
    assert.equal(fieldOf({ ...visa, holderName: "  " }), "card.holder_name");
    assert.equal(fieldOf({ ...visa, expiryMonth: 13 }), "card.expiry_month");
    assert.equal(fieldOf({ ...visa, expiryMonth: 0 }), "card.expiry_month");
    assert.equal(fieldOf({ ...visa, expiryYear: 30 }), "card.expiry_year");
    assert.equal(fieldOf({ ...visa, securityCode: "12" }), "card.security_code");
    assert.equal(fieldOf({ ...visa, securityCode: "12345" }), "card.security_code");
    assert.equal(fieldOf({ ...visa, securityCode: "12a" }), "card.security_code");
  });

  test("a card is good through its expiry month and refused after it", () => {
    assert.equal(fieldOf({ ...visa, expiryMonth: 6, expiryYear: 2030 }), "(valid)");
    assert.equal(fieldOf({ ...visa, expiryMonth: 5, expiryYear: 2030 }), "card.expiry_year");
    assert.throws(() => validateCard({ ...visa, expiryMonth: 12, expiryYear: 2029 }, now), /the card expired in 12\/2029/);
  });

  test("a four-digit CVV is accepted", () => {
    assert.equal(fieldOf({ ...visa, securityCode: "1234" }), "(valid)");
  });
});

describe("masking", () => {
  test("brands come from the leading digits", () => {
    assert.equal(cardBrand("4111111111111111"), "visa");
    assert.equal(cardBrand("5555555555554444"), "mastercard");
    assert.equal(cardBrand("2221000000000009"), "mastercard");
    assert.equal(cardBrand("378282246310005"), "amex");
    assert.equal(cardBrand("6362970000457013"), "elo");
    assert.equal(cardBrand("6011111111111117"), "unknown");
  });

  test("the masked method keeps brand, last four, expiry and holder, and a token that is not the number", () => {
    const method = maskCard(visa, "4111111111111111", key);
    assert.deepEqual(
      { ...method, paymentToken: undefined },
      { cardBrand: "visa", last4: "1111", expiryMonth: 6, expiryYear: 2030, holderName: "Ana Souza", paymentToken: undefined },
    );
    assert.match(method.paymentToken, /^pt_[A-Za-z0-9_-]{43}$/);
    assert.ok(!JSON.stringify(method).includes("4111111111111111"));
    assert.deepEqual(Object.keys(method).sort(), ["cardBrand", "expiryMonth", "expiryYear", "holderName", "last4", "paymentToken"]);
  });

  test("the token is stable for one card and key, and differs for another key or card", () => {
    const token = paymentTokenOf("4111111111111111", key);
    assert.equal(paymentTokenOf("4111111111111111", key), token);
    assert.notEqual(paymentTokenOf("4111111111111111", Buffer.from("x".repeat(32))), token);
    assert.notEqual(paymentTokenOf("5555555555554444", key), token);
  });
});
