// Entry point: the clients, the session and the basket, then the app.
import { render } from "preact";
import { createClients } from "./api/clients.js";
import { authInterceptor, bindSession, resumeSession } from "./api/session.js";
import { App } from "./app.js";
import { AppContext } from "./app-context.js";
import { createBasketStore } from "./basket/basket-store.js";
import "./styles.css";

const clients = createClients([authInterceptor]);
bindSession(clients);
const services = { clients, basket: createBasketStore(clients) };
void resumeSession().then(() => services.basket.load().catch(() => undefined));

const root = document.getElementById("app");
if (root) {
  render(
    <AppContext.Provider value={services}>
      <App />
    </AppContext.Provider>,
    root,
  );
}
