// Checkout: delivery address and card. The request id is chosen once per
// visit and sent again on every retry, so a double click or a retry after a
// lost answer places one order. Field errors come from the server.

import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { type FieldErrors, fieldErrorsOf, messageOf } from "../api/errors.js";
import { account, sessionReady } from "../api/session.js";
import { useServices } from "../app-context.js";
import { Field, FormError, focusFirstInvalid, Page } from "../components.js";

const addressFields = [
  ["address.street", "Rua e número", "street-address"],
  ["address.city", "Cidade", "address-level2"],
  ["address.state", "Estado", "address-level1"],
  ["address.country", "País", "country"],
  ["address.zip_code", "CEP", "postal-code"],
] as const;

const cardFields = [
  ["card.number", "Número do cartão", "cc-number", "numeric"],
  ["card.holder_name", "Nome impresso no cartão", "cc-name", "text"],
  ["card.expiry_month", "Mês de validade", "cc-exp-month", "numeric"],
  ["card.expiry_year", "Ano de validade", "cc-exp-year", "numeric"],
  ["card.security_code", "Código de segurança", "cc-csc", "numeric"],
] as const;

type FieldName = (typeof addressFields)[number][0] | (typeof cardFields)[number][0];

export function CheckoutPage() {
  const { clients, basket } = useServices();
  const { route } = useLocation();
  const requestId = useRef(crypto.randomUUID());
  const [values, setValues] = useState<Record<FieldName, string>>({
    "address.street": "",
    "address.city": "",
    "address.state": "",
    "address.country": "BR",
    "address.zip_code": "",
    "card.number": "",
    "card.holder_name": "",
    "card.expiry_month": "",
    "card.expiry_year": "",
    "card.security_code": "",
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => focusFirstInvalid(form.current), [errors]);
  useEffect(() => {
    if (sessionReady.value && !account.value) route("/signin?next=/checkout", true);
  }, [sessionReady.value, account.value]);

  const set = (name: FieldName) => (value: string) => setValues((current) => ({ ...current, [name]: value }));
  const number = (text: string) => (/^\d+$/.test(text.trim()) ? Number.parseInt(text, 10) : 0);

  return (
    <Page title="Finalizar compra">
      <form
        ref={form}
        class="checkout-form"
        noValidate
        onSubmit={async (event) => {
          event.preventDefault();
          if (busy) return;
          setBusy(true);
          setErrors({});
          setError("");
          try {
            const response = await clients.basket.checkout({
              requestId: requestId.current,
              address: {
                street: values["address.street"],
                city: values["address.city"],
                state: values["address.state"],
                country: values["address.country"],
                zipCode: values["address.zip_code"],
              },
              card: {
                number: values["card.number"],
                holderName: values["card.holder_name"],
                expiryMonth: number(values["card.expiry_month"]),
                expiryYear: number(values["card.expiry_year"]),
                securityCode: values["card.security_code"],
              },
            });
            await basket.load().catch(() => undefined);
            route(`/orders/${response.orderId}`);
          } catch (e: unknown) {
            const fields = fieldErrorsOf(e);
            setErrors(fields);
            const known = Object.keys(fields).some((field) => field in values);
            setError(known ? "" : messageOf(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        <fieldset>
          <legend>Endereço de entrega</legend>
          {addressFields.map(([name, label, autoComplete]) => (
            <Field key={name} name={name} label={label} value={values[name]} onInput={set(name)} errors={errors} autoComplete={autoComplete} />
          ))}
        </fieldset>
        <fieldset>
          <legend>Cartão</legend>
          {cardFields.map(([name, label, autoComplete, inputMode]) => (
            <Field
              key={name}
              name={name}
              label={label}
              value={values[name]}
              onInput={set(name)}
              errors={errors}
              autoComplete={autoComplete}
              inputMode={inputMode}
            />
          ))}
        </fieldset>
        <FormError message={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Enviando…" : "Fazer o pedido"}
        </button>
      </form>
    </Page>
  );
}
