// The staff's view of every buyer's orders (SearchOrders): filtered by status,
// newest first, a page at a time, with shipping for the paid ones in place.
import { useEffect, useRef, useState } from "preact/hooks";
import { type Order, OrderStatus } from "../../../gen/web/mel/ordering/v1/ordering_pb.js";
import { messageOf } from "../api/errors.js";
import { useServices } from "../app-context.js";
import { FormError } from "../components.js";
import { formatDate, formatMoney, statusLabels } from "../format.js";

const pageSize = 10;

const filterStatuses = [
  OrderStatus.PAID,
  OrderStatus.SUBMITTED,
  OrderStatus.AWAITING_VALIDATION,
  OrderStatus.STOCK_CONFIRMED,
  OrderStatus.SHIPPED,
  OrderStatus.CANCELLED,
] as const;

function shortId(id: string): string {
  return id.slice(0, 8);
}

function OrderRow({ order, onShipped, onError }: { order: Order; onShipped: (order: Order) => void; onError: (message: string) => void }) {
  const { clients } = useServices();
  const [shipping, setShipping] = useState(false);
  const ship = async () => {
    setShipping(true);
    onError("");
    try {
      const { order: shipped } = await clients.ordering.shipOrder({ id: order.id });
      if (shipped) onShipped(shipped);
    } catch (e: unknown) {
      onError(`Pedido ${shortId(order.id)}: ${messageOf(e)}`);
    } finally {
      setShipping(false);
    }
  };
  return (
    <tr data-order-id={order.id} data-status={OrderStatus[order.status]}>
      <th scope="row">
        <a href={`/orders/${order.id}`}>{shortId(order.id)}</a>
      </th>
      <td>{order.buyerId}</td>
      <td>{formatMoney(order.total)}</td>
      <td data-testid="admin-order-status">{statusLabels[order.status]}</td>
      <td>{formatDate(order.createTime ? new Date(Number(order.createTime.seconds) * 1000) : undefined)}</td>
      <td>
        {order.status === OrderStatus.PAID && (
          <button type="button" disabled={shipping} onClick={() => void ship()}>
            Enviar <span class="visually-hidden">pedido {shortId(order.id)}</span>
          </button>
        )}
      </td>
    </tr>
  );
}

export function AdminOrders() {
  const { clients } = useServices();
  const [status, setStatus] = useState<OrderStatus>(OrderStatus.PAID);
  // Page tokens of the pages before the current one, and the current one's: keyset paging goes back by replaying them.
  const [tokens, setTokens] = useState<string[]>([""]);
  const [orders, setOrders] = useState<Order[] | undefined>(undefined);
  const [nextToken, setNextToken] = useState("");
  const [error, setError] = useState("");
  const [announcement, setAnnouncement] = useState("");
  const table = useRef<HTMLTableElement>(null);
  const pageToken = tokens.at(-1) ?? "";

  useEffect(() => {
    let current = true;
    setError("");
    clients.ordering
      .searchOrders({ status, pageSize, pageToken })
      .then((response) => {
        if (!current) return;
        setOrders(response.orders);
        setNextToken(response.nextPageToken);
      })
      .catch((e: unknown) => current && setError(messageOf(e)));
    return () => {
      current = false;
    };
  }, [clients, status, pageToken]);

  const shipped = (order: Order) => {
    setOrders((rows) => rows?.map((row) => (row.id === order.id ? order : row)));
    setAnnouncement(`Pedido ${shortId(order.id)}: ${statusLabels[order.status]}`);
    // The button is gone with the PAID status: keep keyboard focus on the same row.
    queueMicrotask(() => table.current?.querySelector<HTMLElement>(`tr[data-order-id="${order.id}"] a`)?.focus());
  };

  return (
    <section class="admin-orders" aria-labelledby="admin-orders-heading">
      <h2 id="admin-orders-heading">Pedidos</h2>
      <div class="field">
        <label for="admin-orders-status">Situação dos pedidos</label>
        <select
          id="admin-orders-status"
          value={String(status)}
          onChange={(event) => {
            setStatus(Number(event.currentTarget.value) as OrderStatus);
            setTokens([""]);
          }}
        >
          {filterStatuses.map((option) => (
            <option key={option} value={String(option)}>
              {statusLabels[option]}
            </option>
          ))}
          <option value={String(OrderStatus.UNSPECIFIED)}>Todas</option>
        </select>
      </div>
      <FormError message={error} />
      <p role="status" class="visually-hidden">
        {announcement}
      </p>
      {orders?.length === 0 && <p>Nenhum pedido nesta situação.</p>}
      {orders && orders.length > 0 && (
        <table ref={table} class="admin-orders-table">
          <caption>
            Pedidos {status === OrderStatus.UNSPECIFIED ? "de todas as situações" : `na situação ${statusLabels[status]}`}, mais recentes primeiro (página{" "}
            {tokens.length})
          </caption>
          <thead>
            <tr>
              <th scope="col">Pedido</th>
              <th scope="col">Cliente</th>
              <th scope="col">Total</th>
              <th scope="col">Situação</th>
              <th scope="col">Data</th>
              <th scope="col">
                <span class="visually-hidden">Ação</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {orders.map((order) => (
              <OrderRow key={order.id} order={order} onShipped={shipped} onError={setError} />
            ))}
          </tbody>
        </table>
      )}
      {(tokens.length > 1 || nextToken !== "") && (
        <nav class="pager" aria-label="Páginas de pedidos">
          {tokens.length > 1 && (
            <button type="button" onClick={() => setTokens((stack) => stack.slice(0, -1))}>
              Página anterior
            </button>
          )}
          {nextToken !== "" && (
            <button type="button" onClick={() => setTokens((stack) => [...stack, nextToken])}>
              Próxima página
            </button>
          )}
        </nav>
      )}
    </section>
  );
}
