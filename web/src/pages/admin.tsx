// The shop's staff (role admin): items (create, change price, adjust stock,
// delete) and every buyer's orders, shipping the paid ones (admin-orders.tsx).
// A price change here reaches every basket holding the item through
// ProductPriceChanged.
import { useEffect, useRef, useState } from "preact/hooks";
import type { CatalogBrand, CatalogItem, CatalogType } from "../../../gen/web/mel/catalog/v1/catalog_pb.js";
import { type FieldErrors, fieldErrorsOf, messageOf } from "../api/errors.js";
import { account, isAdmin } from "../api/session.js";
import { useServices } from "../app-context.js";
import { Field, FormError, focusFirstInvalid, Page } from "../components.js";
import { formatMoney } from "../format.js";
import { AdminOrders } from "./admin-orders.js";

/** "34,90", "34.90" or "1.234,50" (reais) in centavos; -1 when it is not an amount, for the server to refuse with its own words. */
export function parseReais(text: string): bigint {
  const compact = text.replace(/\s|R\$/g, "");
  const normal = compact.includes(",") ? compact.replace(/\./g, "").replace(",", ".") : compact;
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(normal);
  if (!match?.[1]) return -1n;
  return BigInt(match[1]) * 100n + BigInt((match[2] ?? "0").padEnd(2, "0"));
}

function ItemRow({ item, onChanged }: { item: CatalogItem; onChanged: () => void }) {
  const { clients } = useServices();
  const [price, setPrice] = useState((Number(item.price?.amountMinor ?? 0n) / 100).toFixed(2).replace(".", ","));
  const [delta, setDelta] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState("");
  const run = async (work: () => Promise<unknown>) => {
    setErrors({});
    setError("");
    try {
      await work();
      onChanged();
    } catch (e: unknown) {
      const fields = fieldErrorsOf(e);
      setErrors(fields);
      setError(Object.keys(fields).length > 0 ? "" : messageOf(e));
    }
  };
  const priceErrors = { price: errors["item.price.amount_minor"] ?? errors["item.price"] ?? "" };
  const deltaErrors = { delta: errors.delta ?? "" };
  return (
    <li class="admin-item" data-item-id={item.id}>
      <strong>{item.name}</strong> · {formatMoney(item.price)} · estoque {item.availableStock} (reservado {item.reservedStock})
      <form
        class="inline-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          void run(() =>
            clients.catalog.updateItem({
              item: { id: item.id, price: { currencyCode: item.price?.currencyCode || "BRL", amountMinor: parseReais(price) } },
              updateMask: { paths: ["price"] },
            }),
          );
        }}
      >
        <Field
          id={`price-${item.id}`}
          name="price"
          label={`Novo preço de ${item.name} (R$)`}
          value={price}
          onInput={setPrice}
          errors={priceErrors}
          inputMode="decimal"
        />
        <button type="submit">Mudar preço</button>
      </form>
      <form
        class="inline-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          void run(() => clients.catalog.adjustStock({ id: item.id, delta: Number.parseInt(delta, 10) || 0, reason: "ajuste pela administração" }));
        }}
      >
        <Field
          id={`delta-${item.id}`}
          name="delta"
          label={`Ajuste de estoque de ${item.name} (+/−)`}
          value={delta}
          onInput={setDelta}
          errors={deltaErrors}
          inputMode="numeric"
        />
        <button type="submit">Ajustar estoque</button>
      </form>
      <button type="button" onClick={() => void run(() => clients.catalog.deleteItem({ id: item.id }))}>
        Excluir <span class="visually-hidden">{item.name}</span>
      </button>
      <FormError message={error} />
    </li>
  );
}

function CreateItemForm({ onCreated }: { onCreated: () => void }) {
  const { clients } = useServices();
  const [brands, setBrands] = useState<CatalogBrand[]>([]);
  const [types, setTypes] = useState<CatalogType[]>([]);
  const [values, setValues] = useState({ name: "", description: "", price: "", stock: "", brand: "", type: "" });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState("");
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => focusFirstInvalid(form.current), [errors]);
  useEffect(() => {
    void Promise.all([clients.catalog.listBrands({}), clients.catalog.listTypes({})]).then(([b, t]) => {
      setBrands(b.brands);
      setTypes(t.types);
    });
  }, [clients]);
  const set = (key: keyof typeof values) => (value: string) => setValues((current) => ({ ...current, [key]: value }));
  const stock = Number.parseInt(values.stock, 10) || 0;
  return (
    <form
      ref={form}
      class="create-item"
      noValidate
      onSubmit={async (event) => {
        event.preventDefault();
        setErrors({});
        setError("");
        try {
          await clients.catalog.createItem({
            item: {
              name: values.name,
              description: values.description,
              price: { currencyCode: "BRL", amountMinor: parseReais(values.price) },
              brandId: values.brand,
              typeId: values.type,
              availableStock: stock,
              maxStock: Math.max(stock, 100),
            },
          });
          setValues({ name: "", description: "", price: "", stock: "", brand: "", type: "" });
          onCreated();
        } catch (e: unknown) {
          const fields = fieldErrorsOf(e);
          setErrors(fields);
          const shown = ["item.name", "item.description", "item.price.amount_minor", "item.available_stock", "item.brand_id", "item.type_id"];
          setError(Object.keys(fields).some((field) => shown.includes(field)) ? "" : messageOf(e));
        }
      }}
    >
      <h2>Novo item</h2>
      <Field name="item.name" label="Nome" value={values.name} onInput={set("name")} errors={errors} />
      <Field name="item.description" label="Descrição" value={values.description} onInput={set("description")} errors={errors} />
      <Field name="item.price.amount_minor" label="Preço (R$)" value={values.price} onInput={set("price")} errors={errors} inputMode="decimal" />
      <Field name="item.available_stock" label="Estoque inicial" value={values.stock} onInput={set("stock")} errors={errors} inputMode="numeric" />
      {(
        [
          ["item.brand_id", "Marca", brands, "brand"],
          ["item.type_id", "Tipo", types, "type"],
        ] as const
      ).map(([name, label, options, key]) => (
        <div class={errors[name] ? "field field-invalid" : "field"} key={name}>
          <label for={`field-${key}`}>{label}</label>
          <select
            id={`field-${key}`}
            value={values[key]}
            aria-invalid={errors[name] ? "true" : undefined}
            aria-describedby={errors[name] ? `field-${key}-error` : undefined}
            onChange={(event) => set(key)(event.currentTarget.value)}
          >
            <option value="">Escolha</option>
            {options.map((option) => (
              <option key={option.id} value={option.id}>
                {option.name}
              </option>
            ))}
          </select>
          {errors[name] && (
            <p id={`field-${key}-error`} class="field-error" data-field-error={name}>
              {errors[name]}
            </p>
          )}
        </div>
      ))}
      <FormError message={error} />
      <button type="submit">Criar item</button>
    </form>
  );
}

export function AdminPage() {
  const { clients } = useServices();
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<CatalogItem[]>([]);
  const [error, setError] = useState("");
  const [version, setVersion] = useState(0);
  const allowed = account.value !== undefined && isAdmin();

  useEffect(() => {
    if (!allowed) return;
    clients.catalog
      .listItems({ pageSize: 20, query })
      .then((response) => setItems(response.items))
      .catch((e: unknown) => setError(messageOf(e)));
  }, [clients, allowed, query, version]);

  if (!allowed) {
    return (
      <Page title="Administração">
        <p>
          Esta área é da equipe da loja. <a href="/signin?next=/admin">Entre com uma conta de administração.</a>
        </p>
      </Page>
    );
  }
  const refresh = () => setVersion((n) => n + 1);
  return (
    <Page title="Administração">
      <div class="field">
        <label for="admin-search">Buscar item pelo nome</label>
        <input id="admin-search" type="search" value={query} onInput={(event) => setQuery(event.currentTarget.value)} />
      </div>
      <FormError message={error} />
      <ul class="admin-items">
        {items.map((item) => (
          <ItemRow key={`${item.id}-${item.updateTime?.seconds ?? 0n}-${item.availableStock}`} item={item} onChanged={refresh} />
        ))}
      </ul>
      <CreateItemForm onCreated={refresh} />
      <AdminOrders />
    </Page>
  );
}
