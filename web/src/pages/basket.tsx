// The basket: quantities, removal, a voucher, the totals, and a notice on
// every line whose price changed since it was added (the basket keeps the old
// price when catalog announces ProductPriceChanged). Re-read every few seconds
// while open, so a price change, or a voucher the basket had to drop, shows up
// without a reload.
import { useEffect, useState } from "preact/hooks";
import { fieldErrorsOf, messageOf } from "../api/errors.js";
import { account } from "../api/session.js";
import { useServices } from "../app-context.js";
import { mergeProblems, type ShownBasket, type ShownLine } from "../basket/basket-store.js";
import { Field, FormError, Page } from "../components.js";
import { formatMoney } from "../format.js";

const refreshEveryMs = 3_000;

function LineRow({ line, onChange }: { line: ShownLine; onChange: (quantity: number) => Promise<void> }) {
  const [quantity, setQuantity] = useState(String(line.quantity));
  useEffect(() => setQuantity(String(line.quantity)), [line.quantity]);
  const inputId = `quantity-${line.productId}`;
  return (
    <li class="basket-line" data-product-id={line.productId}>
      <img src={line.pictureUrl || "/pictures/placeholder.svg"} alt="" width={64} height={64} />
      <div class="basket-line-text">
        <a href={`/products/${line.productId}`}>{line.productName}</a>
        <span class="price" data-testid="unit-price">
          {formatMoney(line.unitPrice)}
        </span>
        {line.oldUnitPrice && (
          <p class="price-changed" role="status" data-testid="price-changed">
            O preço mudou desde que você adicionou este item: era <del data-testid="old-price">{formatMoney(line.oldUnitPrice)}</del>, agora é{" "}
            <ins data-testid="new-price">{formatMoney(line.unitPrice)}</ins>.
          </p>
        )}
      </div>
      <form
        class="line-quantity"
        onSubmit={(event) => {
          event.preventDefault();
          void onChange(Number.parseInt(quantity, 10));
        }}
      >
        <label for={inputId}>Quantidade de {line.productName}</label>
        <input id={inputId} type="number" min={0} inputMode="numeric" value={quantity} onInput={(event) => setQuantity(event.currentTarget.value)} />
        <button type="submit">Atualizar</button>
        <button type="button" onClick={() => void onChange(0)}>
          Remover <span class="visually-hidden">{line.productName}</span>
        </button>
      </form>
    </li>
  );
}

/** A voucher code for the saved basket: apply one, or see and remove the one applied. */
function VoucherForm({ shown, onChanged }: { shown: ShownBasket; onChanged: (basket: ShownBasket) => void }) {
  const { basket } = useServices();
  const [code, setCode] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const run = async (change: () => Promise<ShownBasket>) => {
    if (busy) return;
    setBusy(true);
    setErrors({});
    setError("");
    try {
      onChanged(await change());
      setCode("");
    } catch (e: unknown) {
      const fields = fieldErrorsOf(e);
      if (Object.keys(fields).length > 0) setErrors(fields);
      else setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  const { voucher } = shown;
  return (
    <section class="voucher" aria-labelledby="voucher-heading">
      <h2 id="voucher-heading">Cupom de desconto</h2>
      {shown.voucherRemovedReason !== "" && (
        <p class="notice" role="status" data-testid="voucher-removed">
          {shown.voucherRemovedReason}
        </p>
      )}
      {voucher ? (
        <p data-testid="voucher-applied">
          Cupom <strong data-testid="voucher-code">{voucher.code}</strong> aplicado
          {voucher.percentOff > 0 ? ` (${voucher.percentOff}% de desconto)` : voucher.amountOff ? ` (${formatMoney(voucher.amountOff)} de desconto)` : ""}.{" "}
          <button type="button" disabled={busy} onClick={() => void run(() => basket.removeVoucher())}>
            Remover cupom
          </button>
        </p>
      ) : (
        <form
          class="voucher-form"
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            void run(() => basket.applyVoucher(code.trim()));
          }}
        >
          <Field name="code" label="Código do cupom" value={code} onInput={setCode} errors={errors} autoComplete="off" />
          <button type="submit" disabled={busy}>
            Aplicar cupom
          </button>
        </form>
      )}
      <FormError message={error} />
    </section>
  );
}

export function BasketPage() {
  const { basket } = useServices();
  const [shown, setShown] = useState<ShownBasket | undefined>(undefined);
  const [error, setError] = useState("");
  const signedIn = account.value !== undefined;

  const reload = () =>
    basket
      .load()
      .then((loaded) => {
        setShown(loaded);
        setError("");
      })
      .catch((e: unknown) => setError(messageOf(e)));

  useEffect(() => {
    void reload();
    if (!signedIn) return;
    const timer = setInterval(() => void reload(), refreshEveryMs);
    return () => clearInterval(timer);
  }, [signedIn]);

  const change = async (productId: string, quantity: number) => {
    try {
      await basket.setQuantity(productId, Number.isNaN(quantity) ? 0 : quantity);
      await reload();
    } catch (e: unknown) {
      setError(messageOf(e));
    }
  };

  return (
    <Page title="Sua cesta">
      <FormError message={error} />
      {mergeProblems.value.length > 0 && (
        <div class="notice" role="status">
          <p>Alguns itens da cesta de antes de entrar não couberam na sua cesta salva:</p>
          <ul>
            {mergeProblems.value.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
      {shown === undefined ? (
        <p aria-live="polite">Carregando…</p>
      ) : shown.lines.length === 0 ? (
        <p>
          A cesta está vazia. <a href="/">Ver o catálogo</a>
        </p>
      ) : (
        <>
          <ul class="basket-lines">
            {shown.lines.map((line) => (
              <LineRow key={line.productId} line={line} onChange={(quantity) => change(line.productId, quantity)} />
            ))}
          </ul>
          {signedIn ? <VoucherForm shown={shown} onChanged={setShown} /> : <p>Tem um cupom de desconto? Entre para usá-lo.</p>}
          <dl class="totals">
            {shown.discount && shown.discount.amountMinor > 0n && (
              <>
                <dt>Subtotal</dt>
                <dd data-testid="basket-subtotal">{formatMoney(shown.subtotal)}</dd>
                <dt>Desconto</dt>
                <dd data-testid="basket-discount">−{formatMoney(shown.discount)}</dd>
              </>
            )}
            <dt>Total</dt>
            <dd class="total">
              <strong data-testid="basket-total">{formatMoney(shown.total)}</strong>
            </dd>
          </dl>
          {signedIn ? (
            <a class="button" href="/checkout">
              Finalizar compra
            </a>
          ) : (
            <p>
              <a class="button" href="/signin?next=/checkout">
                Entrar para finalizar a compra
              </a>{" "}
              ou <a href="/register?next=/checkout">criar uma conta</a>. Sua cesta vem junto.
            </p>
          )}
        </>
      )}
    </Page>
  );
}
