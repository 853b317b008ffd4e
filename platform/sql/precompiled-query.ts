// A query compiled once per database and then run with new parameter values.
// Kysely builds a query's operation tree, runs its plugins over it and prints
// the SQL on every execution; on a primary-key read that costs several times
// what the database spends on the read. Kysely has no API for a compiled
// query with parameters to fill in later, so this small piece does it: the
// query is built once with placeholder values, and each run binds the
// caller's values at the placeholders' positions.
import type { Compilable, CompiledQuery, Kysely } from "kysely";

/** Values a precompiled query takes: bound as given, so only what every driver binds unchanged. */
export type PrecompiledArgument = string | number;

export interface PrecompiledQuery<DB, Args extends PrecompiledArgument[], Row> {
  /** Runs the query on `db` with `args`; compiles it on the first run against that database. */
  execute(db: Kysely<DB>, ...args: Args): Promise<Row[]>;
}

/**
 * `build(db, ...placeholders)` compiled once per Kysely instance (a
 * transaction is its own instance, so it compiles again: transactions are
 * short-lived and not where the reads that matter run). `build` must use
 * each argument exactly as a bound value (a `where(…, "=", id)`, never in
 * SQL text or a branch), so that the SQL is the same whatever the values;
 * the placeholders are distinct strings that name their argument.
 */
export function precompiledQuery<DB, Args extends PrecompiledArgument[], Row>(
  build: (db: Kysely<DB>, ...args: Args) => Compilable<Row>,
): PrecompiledQuery<DB, Args, Row> {
  const compiledFor = new WeakMap<Kysely<DB>, { compiled: CompiledQuery<Row>; argumentAt: Array<number | undefined> }>();
  const compile = (db: Kysely<DB>, arity: number) => {
    const placeholders = Array.from({ length: arity }, (_, index) => `\u0000precompiled-argument-${index}\u0000`);
    const compiled = build(db, ...(placeholders as Args)).compile();
    const argumentAt = compiled.parameters.map((parameter) => {
      const index = placeholders.indexOf(parameter as string);
      return index === -1 ? undefined : index;
    });
    const bound = new Set(argumentAt.filter((index) => index !== undefined));
    if (bound.size !== arity) throw new Error(`a precompiled query must bind each of its ${arity} argument(s) as a parameter; it binds ${bound.size}`);
    return { compiled, argumentAt };
  };
  return {
    async execute(db, ...args) {
      let entry = compiledFor.get(db);
      if (entry === undefined) {
        entry = compile(db, args.length);
        compiledFor.set(db, entry);
      }
      const { compiled, argumentAt } = entry;
      const parameters = compiled.parameters.map((parameter, position) => {
        const index = argumentAt[position];
        return index === undefined ? parameter : args[index];
      });
      // The compiled query's id stays: a plugin that keeps state from its
      // transformQuery for its transformResult finds it under that id.
      const result = await db.executeQuery<Row>({ ...compiled, parameters });
      return result.rows;
    },
  };
}
