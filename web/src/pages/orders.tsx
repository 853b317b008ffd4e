// The shopper's orders, newest first, a page at a time.
import { useEffect, useState } from "preact/hooks";
import type { Order } from "../../../gen/web/mel/ordering/v1/ordering_pb.js";
import { messageOf } from "../api/errors.js";
import { account } from "../api/session.js";
import { useServices } from "../app-context.js";
import { FormError, Page } from "../components.js";
import { formatDate, formatMoney, statusLabels } from "../format.js";

const pageSize = 10;

export function OrdersPage() {
  const { clients } = useServices();
  const [orders, setOrders] = useState<Order[] | undefined>(undefined);
  const [nextToken, setNextToken] = useState("");
  const [error, setError] = useState("");
  const signedIn = account.value !== undefined;

  const loadPage = async (pageToken: string) => {
    try {
      const response = await clients.ordering.listOrders({ pageSize, pageToken });
      setOrders((current) => [...(pageToken === "" ? [] : (current ?? [])), ...response.orders]);
      setNextToken(response.nextPageToken);
    } catch (e: unknown) {
      setError(messageOf(e));
    }
  };
  useEffect(() => {
    if (signedIn) void loadPage("");
  }, [signedIn]);

  return (
    <Page title="Seus pedidos">
      {!signedIn && (
        <p>
          <a href="/signin?next=/orders">Entre</a> para ver seus pedidos.
        </p>
      )}
      <FormError message={error} />
      {orders?.length === 0 && <p>Nenhum pedido ainda.</p>}
      {orders && orders.length > 0 && (
        <ul class="orders">
          {orders.map((order) => (
            <li key={order.id}>
              <a href={`/orders/${order.id}`}>Pedido {order.id.slice(0, 8)}</a> ·{" "}
              {formatDate(order.createTime ? new Date(Number(order.createTime.seconds) * 1000) : undefined)} · {statusLabels[order.status]} ·{" "}
              {formatMoney(order.total)}
            </li>
          ))}
        </ul>
      )}
      {nextToken !== "" && (
        <button type="button" onClick={() => void loadPage(nextToken)}>
          Mais pedidos
        </button>
      )}
    </Page>
  );
}
