// One order, live: WatchOrder (a gRPC-Web server stream) sends the order now
// and again at every status change, so the timeline moves by itself through
// stock validation and payment, cancellations with their reason included.
// The shopper may cancel until the order is paid.
import { Code, ConnectError } from "@connectrpc/connect";
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { type Order, OrderStatus } from "../../../gen/web/mel/ordering/v1/ordering_pb.js";
import { watchTimeoutMs } from "../api/clients.js";
import { messageOf } from "../api/errors.js";
import { account } from "../api/session.js";
import { useServices } from "../app-context.js";
import { FormError, Page } from "../components.js";
import { formatDate, formatMoney, isCancellable, statusLabels } from "../format.js";

/** How long a just-placed order may take to appear before the page says it cannot find it. */
const orderPendingMs = 60_000;
const pendingCodes = new Set([Code.NotFound, Code.DeadlineExceeded, Code.Unavailable]);

export function OrderPage() {
  const { clients } = useServices();
  const { params } = useRoute();
  const id = params.id ?? "";
  const [order, setOrder] = useState<Order | undefined>(undefined);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const signedIn = account.value !== undefined;

  useEffect(() => {
    if (!signedIn) return;
    const stop = new AbortController();
    void (async () => {
      // Right after checkout the order exists only once ordering has taken the
      // checkout event off its queue: until the first snapshot arrives, NOT_FOUND
      // and a busy ordering mean "not yet", so the page asks again for a while.
      const pendingUntil = Date.now() + orderPendingMs;
      let seen = false;
      for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4000)) {
        try {
          for await (const update of clients.ordering.watchOrder({ id }, { signal: stop.signal, timeoutMs: watchTimeoutMs })) {
            if (update.order) setOrder(update.order);
            seen = true;
            setError("");
          }
          return;
        } catch (e: unknown) {
          if (stop.signal.aborted || (e instanceof ConnectError && e.code === Code.Canceled)) return;
          const notYet = e instanceof ConnectError && pendingCodes.has(e.code) && !seen && Date.now() + delayMs < pendingUntil;
          if (!notYet) {
            setError(messageOf(e));
            return;
          }
          await new Promise((wake) => setTimeout(wake, delayMs));
          if (stop.signal.aborted) return;
        }
      }
    })();
    return () => stop.abort();
  }, [clients, id, signedIn, attempt]);

  if (!signedIn) {
    return (
      <Page title="Pedido">
        <p>
          <a href={`/signin?next=/orders/${id}`}>Entre</a> para ver este pedido.
        </p>
      </Page>
    );
  }
  const title = order ? `Pedido ${order.id.slice(0, 8)}` : "Pedido";
  const last = order?.statusHistory.at(-1);
  return (
    <Page title={title}>
      <FormError message={error} />
      {error !== "" && (
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Tentar de novo
        </button>
      )}
      {order && (
        <>
          <p class="order-status" aria-live="polite">
            Situação: <strong data-testid="order-status">{statusLabels[order.status]}</strong>
          </p>
          {order.status === OrderStatus.CANCELLED && last?.reason && (
            <p class="cancel-reason" data-testid="cancel-reason">
              Motivo: {last.reason}
            </p>
          )}
          <ol class="timeline" aria-label="Histórico do pedido">
            {order.statusHistory.map((change) => (
              <li key={`${change.status}-${change.changeTime?.seconds ?? 0n}`} data-status={OrderStatus[change.status]}>
                <strong>{statusLabels[change.status]}</strong>{" "}
                <time>{formatDate(change.changeTime ? new Date(Number(change.changeTime.seconds) * 1000) : undefined)}</time>
                {change.reason && <span> — {change.reason}</span>}
              </li>
            ))}
          </ol>
          <ul class="order-lines">
            {order.lines.map((line) => (
              <li key={line.productId}>
                {line.units} × {line.productName} ({formatMoney(line.unitPrice)})
              </li>
            ))}
          </ul>
          <p class="total">
            Total: <strong>{formatMoney(order.total)}</strong>
          </p>
          {isCancellable(order.status) && (
            <button
              type="button"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  const response = await clients.ordering.cancelOrder({ id, reason: "" });
                  if (response.order) setOrder(response.order);
                } catch (e: unknown) {
                  setError(messageOf(e));
                } finally {
                  setBusy(false);
                }
              }}
            >
              Cancelar pedido
            </button>
          )}
        </>
      )}
      {!order && error === "" && <p aria-live="polite">Carregando…</p>}
    </Page>
  );
}
