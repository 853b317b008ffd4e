// The catalogue: brand and type filters, name search, sort and pages, all in
// the URL's query so the back button and shared links keep them.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { CatalogBrand, CatalogItem, CatalogType } from "../../../gen/web/mel/catalog/v1/catalog_pb.js";
import { ItemSort } from "../../../gen/web/mel/catalog/v1/catalog_pb.js";
import { messageOf } from "../api/errors.js";
import { useServices } from "../app-context.js";
import { FormError, Page } from "../components.js";
import { formatMoney, stockState } from "../format.js";

const pageSize = 12;

const sorts: Array<[string, ItemSort, string]> = [
  ["", ItemSort.UNSPECIFIED, "Relevância"],
  ["name", ItemSort.NAME_ASC, "Nome (A–Z)"],
  ["name-desc", ItemSort.NAME_DESC, "Nome (Z–A)"],
  ["price", ItemSort.PRICE_ASC, "Menor preço"],
  ["price-desc", ItemSort.PRICE_DESC, "Maior preço"],
];

export function CatalogPage() {
  const { clients } = useServices();
  const { query, route } = useLocation();
  const page = Math.max(1, Number.parseInt(query.page ?? "1", 10) || 1);
  const brand = query.brand ?? "";
  const type = query.type ?? "";
  const search = query.q ?? "";
  const sort = query.sort ?? "";
  const [brands, setBrands] = useState<CatalogBrand[]>([]);
  const [types, setTypes] = useState<CatalogType[]>([]);
  const [items, setItems] = useState<CatalogItem[] | undefined>(undefined);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState("");
  const [searchText, setSearchText] = useState(search);

  useEffect(() => {
    Promise.all([clients.catalog.listBrands({}), clients.catalog.listTypes({})])
      .then(([b, t]) => {
        setBrands(b.brands);
        setTypes(t.types);
      })
      .catch((e: unknown) => setError(messageOf(e)));
  }, [clients]);

  useEffect(() => {
    let current = true;
    clients.catalog
      .listItems({
        pageSize,
        pageNumber: page,
        brandId: brand,
        typeId: type,
        query: search,
        sort: sorts.find(([key]) => key === sort)?.[1] ?? ItemSort.UNSPECIFIED,
      })
      .then((response) => {
        if (!current) return;
        setItems(response.items);
        setTotal(response.totalCount);
        setError("");
      })
      .catch((e: unknown) => current && setError(messageOf(e)));
    return () => {
      current = false;
    };
  }, [clients, page, brand, type, search, sort]);

  const go = (changes: Record<string, string>) => {
    const next = new URLSearchParams({ ...query, page: "1", ...changes });
    for (const [key, value] of [...next]) if (value === "" || (key === "page" && value === "1")) next.delete(key);
    const text = next.toString();
    route(text === "" ? "/" : `/?${text}`);
  };
  const pages = Math.max(1, Math.ceil(total / pageSize));

  return (
    <Page title="Catálogo">
      <form
        class="filters"
        aria-label="Filtros do catálogo"
        onSubmit={(event) => {
          event.preventDefault();
          go({ q: searchText.trim() });
        }}
      >
        <div class="field">
          <label for="filter-q">Buscar pelo nome</label>
          <input id="filter-q" type="search" value={searchText} onInput={(event) => setSearchText(event.currentTarget.value)} />
        </div>
        <button type="submit">Buscar</button>
        <div class="field">
          <label for="filter-brand">Marca</label>
          <select id="filter-brand" value={brand} onChange={(event) => go({ brand: event.currentTarget.value })}>
            <option value="">Todas</option>
            {brands.map((b) => (
              <option key={b.id} value={b.id}>
                {b.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-type">Tipo</label>
          <select id="filter-type" value={type} onChange={(event) => go({ type: event.currentTarget.value })}>
            <option value="">Todos</option>
            {types.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-sort">Ordenar</label>
          <select id="filter-sort" value={sort} onChange={(event) => go({ sort: event.currentTarget.value })}>
            {sorts.map(([key, , label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <FormError message={error} />
      {items === undefined ? (
        <p aria-live="polite">Carregando…</p>
      ) : items.length === 0 ? (
        <p>Nenhum produto encontrado.</p>
      ) : (
        <>
          <p aria-live="polite">
            {total} {total === 1 ? "produto" : "produtos"}
          </p>
          <ul class="product-grid">
            {items.map((item) => {
              const stock = stockState(item.availableStock, item.restockThreshold);
              return (
                <li key={item.id} class="product-card">
                  <a href={`/products/${item.id}`}>
                    <img src={item.pictureUrl || "/pictures/placeholder.svg"} alt="" width={160} height={160} loading="lazy" />
                    <span class="product-name">{item.name}</span>
                  </a>
                  <span class="price">{formatMoney(item.price)}</span>
                  <span class={`stock stock-${stock.kind}`}>{stock.label}</span>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {pages > 1 && (
        <nav class="pager" aria-label="Páginas do catálogo">
          <button type="button" disabled={page <= 1} onClick={() => go({ ...query, page: String(page - 1) })}>
            Anterior
          </button>
          <span>
            Página {page} de {pages}
          </span>
          <button type="button" disabled={page >= pages} onClick={() => go({ ...query, page: String(page + 1) })}>
            Próxima
          </button>
        </nav>
      )}
    </Page>
  );
}
