// One product: picture, price, an honest stock state, and "add to basket".

import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import type { CatalogItem } from "../../../gen/web/mel/catalog/v1/catalog_pb.js";
import { messageOf } from "../api/errors.js";
import { useServices } from "../app-context.js";
import { FormError, Page } from "../components.js";
import { formatMoney, stockState } from "../format.js";

export function ProductPage() {
  const { clients, basket } = useServices();
  const { params } = useRoute();
  const id = params.id ?? "";
  const [item, setItem] = useState<CatalogItem | undefined>(undefined);
  const [error, setError] = useState("");
  const [quantity, setQuantity] = useState("1");
  const [added, setAdded] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    clients.catalog
      .getItem({ id })
      .then((response) => setItem(response.item))
      .catch((e: unknown) => setError(messageOf(e)));
  }, [clients, id]);

  if (!item) {
    return (
      <Page title={error === "" ? "Carregando…" : "Produto indisponível"}>
        <FormError message={error} />
      </Page>
    );
  }
  const stock = stockState(item.availableStock, item.restockThreshold);
  return (
    <Page title={item.name}>
      <div class="product">
        <img src={item.pictureUrl || "/pictures/placeholder.svg"} alt={`Foto de ${item.name}`} width={320} height={320} />
        <div>
          <p class="price" data-testid="product-price">
            {formatMoney(item.price)}
          </p>
          <p class={`stock stock-${stock.kind}`} data-testid="stock-state">
            {stock.label}
          </p>
          <p>{item.description}</p>
          <p>
            {item.brandName} · {item.typeName}
          </p>
          <form
            class="add-to-basket"
            onSubmit={async (event) => {
              event.preventDefault();
              setBusy(true);
              setError("");
              setAdded("");
              try {
                await basket.add(item.id, Number.parseInt(quantity, 10));
                setAdded(`${quantity} × ${item.name} na cesta.`);
              } catch (e: unknown) {
                setError(messageOf(e));
              } finally {
                setBusy(false);
              }
            }}
          >
            <div class="field">
              <label for="quantity">Quantidade</label>
              <input id="quantity" type="number" min={1} inputMode="numeric" value={quantity} onInput={(event) => setQuantity(event.currentTarget.value)} />
            </div>
            <button type="submit" disabled={busy || stock.kind === "out"}>
              Adicionar à cesta
            </button>
          </form>
          <FormError message={error} />
          {added && (
            <p role="status">
              {added} <a href="/basket">Ver a cesta</a>
            </p>
          )}
        </div>
      </div>
    </Page>
  );
}
