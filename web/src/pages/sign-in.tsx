// Sign-in and registration. Either one then moves the anonymous basket into
// the saved one and goes on to where the shopper was headed (?next=).

import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { type FieldErrors, fieldErrorsOf, messageOf } from "../api/errors.js";
import { register, signIn } from "../api/session.js";
import { useServices } from "../app-context.js";
import { Field, FormError, focusFirstInvalid, Page } from "../components.js";

function useAfterSignIn() {
  const { basket } = useServices();
  const { query, route } = useLocation();
  const next = query.next?.startsWith("/") && !query.next.startsWith("//") ? query.next : "/";
  return async () => {
    await basket.mergeLocal();
    route(next);
  };
}

function AccountForm({ mode }: { mode: "signin" | "register" }) {
  const afterSignIn = useAfterSignIn();
  const { query } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => focusFirstInvalid(form.current), [errors]);

  const shown = new Set(mode === "register" ? ["email", "password", "display_name"] : ["email", "password"]);
  return (
    <form
      ref={form}
      class="account-form"
      noValidate
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setErrors({});
        setError("");
        try {
          if (mode === "register") await register(email, password, displayName);
          else await signIn(email, password);
          await afterSignIn();
        } catch (e: unknown) {
          const fields = fieldErrorsOf(e);
          setErrors(fields);
          setError(Object.keys(fields).some((field) => shown.has(field)) ? "" : messageOf(e));
        } finally {
          setBusy(false);
        }
      }}
    >
      {mode === "register" && <Field name="display_name" label="Nome" value={displayName} onInput={setDisplayName} errors={errors} autoComplete="name" />}
      <Field name="email" label="E-mail" type="email" value={email} onInput={setEmail} errors={errors} autoComplete="email" required />
      <Field
        name="password"
        label="Senha"
        type="password"
        value={password}
        onInput={setPassword}
        errors={errors}
        autoComplete={mode === "register" ? "new-password" : "current-password"}
        required
      />
      <FormError message={error} />
      <button type="submit" disabled={busy}>
        {mode === "register" ? "Criar conta" : "Entrar"}
      </button>
      <p>
        {mode === "register" ? (
          <a href={`/signin${query.next ? `?next=${encodeURIComponent(query.next)}` : ""}`}>Já tenho conta</a>
        ) : (
          <a href={`/register${query.next ? `?next=${encodeURIComponent(query.next)}` : ""}`}>Criar uma conta</a>
        )}
      </p>
    </form>
  );
}

export function SignInPage() {
  return (
    <Page title="Entrar">
      <AccountForm mode="signin" />
    </Page>
  );
}

export function RegisterPage() {
  return (
    <Page title="Criar conta">
      <AccountForm mode="register" />
    </Page>
  );
}
