// Building blocks shared by the pages: a page frame that titles the document
// and moves focus to its heading after each navigation, labelled form fields
// that show the server's message for their field, and status messages.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { FieldErrors } from "./api/errors.js";

export function Page({ title, children }: { title: string; children?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Lojas Mel`;
    heading.current?.focus();
  }, [title]);
  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        {title}
      </h1>
      {children}
    </>
  );
}

export interface FieldProps {
  /** Field path in proto spelling ("address.zip_code"): the input's name and the key of its server error. */
  name: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  errors: FieldErrors;
  type?: "text" | "email" | "password" | "search";
  autoComplete?: string;
  inputMode?: "numeric" | "text" | "email" | "decimal";
  required?: boolean;
  /** Element id when the same field name appears more than once on a page. */
  id?: string;
}

export function fieldId(name: string): string {
  return `field-${name.replace(/[^a-z0-9]+/gi, "-")}`;
}

export function Field({ name, label, value, onInput, errors, type = "text", autoComplete, inputMode, required = false, id = fieldId(name) }: FieldProps) {
  const error = errors[name];
  return (
    <div class={error ? "field field-invalid" : "field"}>
      <label for={id}>{label}</label>
      <input
        id={id}
        name={name}
        // Preact types each input type with its own attribute set; these four share the text ones.
        type={type as "text"}
        value={value}
        required={required}
        autocomplete={autoComplete}
        inputMode={inputMode}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onInput={(event) => onInput(event.currentTarget.value)}
      />
      {error && (
        <p id={`${id}-error`} class="field-error" data-field-error={name}>
          {error}
        </p>
      )}
    </div>
  );
}

/** Errors for fields the form does not show (or none named) go here, announced to screen readers. */
export function FormError({ message }: { message: string }) {
  if (message === "") return null;
  return (
    <p class="form-error" role="alert">
      {message}
    </p>
  );
}

/** Moves focus to the first field the server refused, so keyboard users land on it. */
export function focusFirstInvalid(form: HTMLFormElement | null): void {
  form?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus();
}
