// The signed-in shopper. The access token lives in this module only (never in
// storage); the refresh token is an HttpOnly cookie the page cannot read,
// which the gateway moves in and out of identity's messages. The session is
// renewed silently before the access token expires, and after a reload from
// the cookie. A refresh the server refuses (a reused token revokes the whole
// family, on every device) signs the shopper out here and says why.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { signal } from "@preact/signals";
import type { Clients } from "./clients.js";

export interface Account {
  id: string;
  email: string;
  displayName: string;
  roles: readonly string[];
}

/** The shopper, or undefined when nobody is signed in. */
export const account = signal<Account | undefined>(undefined);
/** Why the session ended when the shopper did not end it; "" otherwise. */
export const sessionNotice = signal("");
/** False until the first attempt to resume a session after the page loaded has finished. */
export const sessionReady = signal(false);

// Not a secret: only whether this browser had a session worth resuming, so a
// first visit does not start with a refresh call bound to fail.
const hadSessionKey = "mel.had-session";

let accessToken: string | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
let clients: Clients | undefined;

/** Adds the bearer token to every call; a unary call refused as unauthenticated is tried once more after a refresh. */
export const authInterceptor: Interceptor = (next) => async (request) => {
  const sentToken = accessToken;
  if (sentToken) request.header.set("authorization", `Bearer ${sentToken}`);
  try {
    return await next(request);
  } catch (error: unknown) {
    const retryable = !request.stream && sentToken !== undefined && request.method.name !== "Refresh";
    if (!retryable || !(error instanceof ConnectError) || error.code !== Code.Unauthenticated) throw error;
    if (!(await refreshSession())) throw error;
    request.header.set("authorization", `Bearer ${accessToken}`);
    return await next(request);
  }
};

export function bindSession(bound: Clients): void {
  clients = bound;
}

function identity() {
  if (!clients) throw new Error("bindSession must run before the session is used");
  return clients.identity;
}

// Renew well before expiry: a quarter of the lifetime early, at most a minute.
function scheduleRefresh(expiresInSeconds: number): void {
  clearTimeout(refreshTimer);
  const lifetimeMs = expiresInSeconds * 1000;
  const delay = Math.max(500, lifetimeMs - Math.min(60_000, lifetimeMs / 4));
  refreshTimer = setTimeout(() => void refreshSession(), delay);
}

async function adoptTokens(token: string, expiresIn: number): Promise<void> {
  accessToken = token;
  scheduleRefresh(expiresIn);
  localStorage.setItem(hadSessionKey, "1");
  const { user } = await identity().me({});
  account.value = user ? { id: user.id, email: user.email, displayName: user.displayName, roles: user.roles } : undefined;
}

function forget(notice: string): void {
  clearTimeout(refreshTimer);
  accessToken = undefined;
  account.value = undefined;
  localStorage.removeItem(hadSessionKey);
  sessionNotice.value = notice;
}

export async function signIn(email: string, password: string): Promise<void> {
  const response = await identity().login({ email, password });
  sessionNotice.value = "";
  await adoptTokens(response.accessToken, response.expiresIn);
}

export async function register(email: string, password: string, displayName: string): Promise<void> {
  await identity().register({ email, password, displayName });
  await signIn(email, password);
}

export async function signOut(): Promise<void> {
  try {
    await identity().logout({});
  } finally {
    forget("");
  }
}

/** Spends the refresh cookie for new tokens; false (and signed out, with the reason) when the server refuses it. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await identity().refresh({});
      await adoptTokens(response.accessToken, response.expiresIn);
      return true;
    } catch (error: unknown) {
      if (error instanceof ConnectError && (error.code === Code.Unauthenticated || error.code === Code.InvalidArgument)) {
        // INVALID_ARGUMENT: no cookie was sent (signed out elsewhere in this browser); nothing to tell.
        forget(error.code === Code.Unauthenticated ? `Sua sessão foi encerrada: ${error.rawMessage}` : "");
        return false;
      }
      // The network or the gateway failed: keep the session and try again soon.
      refreshTimer = setTimeout(() => void refreshSession(), 5_000);
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

/** After a page load: resume the session from the refresh cookie when this browser had one. */
export async function resumeSession(): Promise<void> {
  try {
    if (localStorage.getItem(hadSessionKey)) await refreshSession();
  } finally {
    sessionReady.value = true;
  }
}

export function isAdmin(): boolean {
  return account.value?.roles.includes("admin") ?? false;
}
