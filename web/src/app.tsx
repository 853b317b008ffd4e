// The storefront's frame: skip link, header with the basket count and the
// session, the notice when a session ended by itself, and the routes.

import { useState } from "preact/hooks";
import { LocationProvider, Route, Router, useLocation } from "preact-iso";
import { account, isAdmin, sessionNotice, sessionReady, signOut } from "./api/session.js";
import { basketUnits } from "./basket/basket-store.js";
import { Page } from "./components.js";
import { AdminPage } from "./pages/admin.js";
import { BasketPage } from "./pages/basket.js";
import { CatalogPage } from "./pages/catalog.js";
import { CheckoutPage } from "./pages/checkout.js";
import { OrderPage } from "./pages/order.js";
import { OrdersPage } from "./pages/orders.js";
import { ProductPage } from "./pages/product.js";
import { RegisterPage, SignInPage } from "./pages/sign-in.js";

function Header() {
  const { route } = useLocation();
  const [busy, setBusy] = useState(false);
  const user = account.value;
  return (
    <header class="site-header">
      <a class="brand" href="/">
        Lojas Mel
      </a>
      <nav aria-label="Principal">
        <ul>
          <li>
            <a href="/">Catálogo</a>
          </li>
          <li>
            <a href="/basket" data-testid="basket-link">
              Cesta{" "}
              <span class="badge" data-testid="basket-units">
                {basketUnits.value}
                <span class="visually-hidden"> itens</span>
              </span>
            </a>
          </li>
          {user && (
            <li>
              <a href="/orders">Pedidos</a>
            </li>
          )}
          {user && isAdmin() && (
            <li>
              <a href="/admin">Administração</a>
            </li>
          )}
        </ul>
      </nav>
      <div class="session">
        {user ? (
          <>
            <span data-testid="signed-in-as">{user.displayName || user.email}</span>
            <button
              type="button"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  await signOut();
                } finally {
                  setBusy(false);
                  route("/");
                }
              }}
            >
              Sair
            </button>
          </>
        ) : (
          sessionReady.value && (
            <>
              <a href="/signin">Entrar</a>
              <a href="/register">Criar conta</a>
            </>
          )
        )}
      </div>
    </header>
  );
}

function NotFound() {
  return (
    <Page title="Página não encontrada">
      <p>
        Esta página não existe. <a href="/">Voltar ao catálogo</a>
      </p>
    </Page>
  );
}

export function App() {
  return (
    <LocationProvider>
      <a class="skip-link" href="#main">
        Pular para o conteúdo
      </a>
      <Header />
      {sessionNotice.value !== "" && (
        <div class="notice" role="alert" data-testid="session-notice">
          {sessionNotice.value} <a href="/signin">Entrar de novo</a>
        </div>
      )}
      <main id="main">
        <Router>
          <Route path="/" component={CatalogPage} />
          <Route path="/products/:id" component={ProductPage} />
          <Route path="/basket" component={BasketPage} />
          <Route path="/checkout" component={CheckoutPage} />
          <Route path="/orders" component={OrdersPage} />
          <Route path="/orders/:id" component={OrderPage} />
          <Route path="/signin" component={SignInPage} />
          <Route path="/register" component={RegisterPage} />
          <Route path="/admin" component={AdminPage} />
          <Route default component={NotFound} />
        </Router>
      </main>
    </LocationProvider>
  );
}
