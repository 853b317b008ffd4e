// google.api.http path templates: parsing and matching.
//
// The grammar (google/api/http.proto):
//   Template = "/" Segments [ Verb ] ;
//   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;
//   Verb     = ":" LITERAL ;
// fastify's router gives ":" a meaning of its own and knows nothing of "{a.b=x/*}",
// so the gateway routes every JSON request through one catch-all route and
// matches the annotation templates here.

export type TemplateSegment =
  | { kind: "literal"; value: string }
  | { kind: "wildcard" } // "*": exactly one segment
  | { kind: "deep-wildcard" }; // "**": zero or more segments, last only

export interface TemplateVariable {
  // Dotted field path in the request message ("item.id").
  fieldPath: string;
  // Index of the first segment the variable covers and how many it covers
  // (for a trailing "**", -1: every remaining segment).
  start: number;
  length: number;
}

export interface PathTemplate {
  source: string;
  segments: TemplateSegment[];
  variables: TemplateVariable[];
  verb: string | undefined;
}

export class PathTemplateError extends Error {
  constructor(template: string, reason: string) {
    super(`invalid google.api.http path template "${template}": ${reason}`);
    this.name = "PathTemplateError";
  }
}

const literalPattern = /^[^/{}*:=]+$/;
const fieldPathPattern = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export function parsePathTemplate(source: string): PathTemplate {
  if (!source.startsWith("/")) throw new PathTemplateError(source, "must start with /");
  let rest = source.slice(1);
  let verb: string | undefined;
  // The verb is a ":" after the last "/" that is outside any "{...}".
  const lastSlash = rest.lastIndexOf("/");
  const lastClose = rest.lastIndexOf("}");
  const colon = rest.indexOf(":", Math.max(lastSlash, lastClose) + 1);
  if (colon !== -1) {
    verb = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!literalPattern.test(verb)) throw new PathTemplateError(source, `bad verb "${verb}"`);
  }
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  let position = 0;
  const pushSegments = (text: string): number => {
    let count = 0;
    for (const part of text.split("/")) {
      if (part === "*") segments.push({ kind: "wildcard" });
      else if (part === "**") segments.push({ kind: "deep-wildcard" });
      else if (literalPattern.test(part)) segments.push({ kind: "literal", value: part });
      else throw new PathTemplateError(source, `bad segment "${part}"`);
      count++;
    }
    return count;
  };
  while (position < rest.length) {
    const open = rest.indexOf("{", position);
    const literalEnd = open === -1 ? rest.length : open;
    const literalText = rest.slice(position, literalEnd);
    if (open !== -1 && open > 0 && !literalText.endsWith("/") && !(literalText === "" && rest[open - 1] === "/")) {
      throw new PathTemplateError(source, "a variable must be a whole segment");
    }
    if (position > 0 && literalText.length > 0 && !literalText.startsWith("/")) {
      throw new PathTemplateError(source, "a variable must be a whole segment");
    }
    if (literalText.length > 0) {
      const trimmed = literalText.replace(/^\//, "").replace(/\/$/, "");
      if (trimmed.length > 0) pushSegments(trimmed);
    }
    if (open === -1) break;
    const close = rest.indexOf("}", open);
    if (close === -1) throw new PathTemplateError(source, "unclosed {");
    const body = rest.slice(open + 1, close);
    const equals = body.indexOf("=");
    const fieldPath = equals === -1 ? body : body.slice(0, equals);
    if (!fieldPathPattern.test(fieldPath)) throw new PathTemplateError(source, `bad field path "${fieldPath}"`);
    if (variables.some((v) => v.fieldPath === fieldPath)) throw new PathTemplateError(source, `"${fieldPath}" bound twice`);
    const start = segments.length;
    const length = pushSegments(equals === -1 ? "*" : body.slice(equals + 1));
    variables.push({ fieldPath, start, length });
    position = close + 1;
  }
  const deep = segments.findIndex((s) => s.kind === "deep-wildcard");
  if (deep !== -1 && deep !== segments.length - 1) throw new PathTemplateError(source, "** must be the last segment");
  for (const variable of variables) {
    if (segments[variable.start + variable.length - 1]?.kind === "deep-wildcard") variable.length = -1;
  }
  return { source, segments, variables, verb };
}

/** A match binds each variable's field path to its (percent-decoded) value. */
export type PathBindings = Map<string, string>;

export class PathDecodeError extends Error {}

/**
 * A request path split into segments once for every template tried against
 * it: the gateway tries each binding in turn, and splitting the path again
 * for each one was a measurable share of a request. Templates with a verb
 * (":cancel") see the path with that verb removed, computed once per verb.
 */
export interface RequestPath {
  readonly path: string;
  /** The segments with `verb` removed from the end (undefined when the path does not end with it); "" for no verb. */
  segmentsFor(verb: string | undefined): readonly string[] | undefined;
}

export function splitRequestPath(path: string): RequestPath {
  const byVerb = new Map<string, readonly string[] | undefined>();
  return {
    path,
    segmentsFor(verb) {
      const key = verb ?? "";
      if (byVerb.has(key)) return byVerb.get(key);
      let segments: readonly string[] | undefined;
      if (path.startsWith("/")) {
        let rest = path.slice(1);
        const suffix = verb === undefined ? "" : `:${verb}`;
        if (rest.endsWith(suffix)) {
          rest = rest.slice(0, rest.length - suffix.length);
          segments = rest.length === 0 ? [] : rest.split("/");
        }
      }
      byVerb.set(key, segments);
      return segments;
    },
  };
}

/**
 * Matches a request path (without query string, or split once with
 * splitRequestPath) against a template; undefined when it does not match.
 * Throws PathDecodeError on bad percent-encoding in a bound segment.
 */
export function matchPathTemplate(template: PathTemplate, path: string | RequestPath): PathBindings | undefined {
  const parts = (typeof path === "string" ? splitRequestPath(path) : path).segmentsFor(template.verb);
  if (parts === undefined) return undefined;
  const { segments } = template;
  const hasDeep = segments.at(-1)?.kind === "deep-wildcard";
  if (hasDeep ? parts.length < segments.length - 1 : parts.length !== segments.length) return undefined;
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index] as TemplateSegment;
    if (segment.kind === "deep-wildcard") break;
    const part = parts[index] ?? "";
    if (segment.kind === "literal" ? part !== segment.value : part.length === 0) return undefined;
  }
  const bindings: PathBindings = new Map();
  for (const variable of template.variables) {
    const end = variable.length === -1 ? parts.length : variable.start + variable.length;
    const covered = parts.slice(variable.start, end);
    const [single] = covered;
    bindings.set(
      variable.fieldPath,
      covered.length === 1 && single !== undefined ? decodeSegment(single, false) : covered.map((p) => decodeSegment(p, true)).join("/"),
    );
  }
  return bindings;
}

// A single-segment variable is fully decoded; a multi-segment one keeps "%2F"
// encoded so that the value's own slashes stay distinguishable (http.proto).
function decodeSegment(segment: string, keepSlashes: boolean): string {
  try {
    if (!keepSlashes) return decodeURIComponent(segment);
    return segment
      .split(/(%2F)/i)
      .map((piece) => (/^%2F$/i.test(piece) ? piece : decodeURIComponent(piece)))
      .join("");
  } catch {
    throw new PathDecodeError(`path segment "${segment}" is not valid percent-encoding`);
  }
}

/**
 * Orders templates so the most specific is tried first: a template with a verb
 * before one without (so "/orders/{id}:cancel" wins over "/orders/{id}"), then
 * more literal segments, then fewer wildcards.
 */
export function compareTemplateSpecificity(a: PathTemplate, b: PathTemplate): number {
  const verbA = a.verb === undefined ? 0 : 1;
  const verbB = b.verb === undefined ? 0 : 1;
  if (verbA !== verbB) return verbB - verbA;
  const literals = (t: PathTemplate) => t.segments.filter((s) => s.kind === "literal").length;
  if (literals(a) !== literals(b)) return literals(b) - literals(a);
  const deep = (t: PathTemplate) => (t.segments.at(-1)?.kind === "deep-wildcard" ? 1 : 0);
  return deep(a) - deep(b);
}
