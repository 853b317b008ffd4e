// `mel projections rebuild orders`: rebuilds ordering's order read model
// (MongoDB) from its orders (SQL) while ordering keeps serving; see
// services/ordering/order-view-rebuild.ts for why a concurrent projection
// update is never undone. Reads MEL_ORDERING_DATABASE_URL and
// MEL_ORDERING_MONGODB_URL as ordering does. Progress goes to stderr: a bar
// on a terminal, a plain line every few seconds otherwise (logs, CI).
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { createLogger } from "../platform/log/index.js";
import { connectMongo, hasAtomicConditionalUpdates } from "../platform/mongo/index.js";
import { createDatabase } from "../platform/sql/index.js";
import type { OrderingDatabase } from "../services/ordering/order.table.js";
import { createOrderReadModelIndexes, orderReadModelOn } from "../services/ordering/order-view.model.js";
import { type RebuildProgress, rebuildOrderViews } from "../services/ordering/order-view-rebuild.js";
import type { CliCommand, CliIo } from "./mel.js";

/** The read models a rebuild knows, by the name on the command line. */
const projections = ["orders"] as const;

/** How often a plain progress line is written when stderr is not a terminal. */
const plainProgressEveryMs = 2000;

function progressReporter(io: CliIo) {
  if (io.progressStream !== undefined) {
    const bar = new cliProgress.SingleBar(
      { stream: io.progressStream, format: "orders {bar} {value}/{total} ({percentage}%) written {written}, current {current}, eta {eta_formatted}" },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(progress: RebuildProgress) {
        const payload = { written: progress.written, current: progress.current };
        if (!started) {
          bar.start(progress.total, progress.done, payload);
          started = true;
          return;
        }
        bar.setTotal(progress.total);
        bar.update(progress.done, payload);
      },
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update(progress: RebuildProgress) {
      const now = Date.now();
      if (now - lastLine < plainProgressEveryMs && progress.done !== 0 && progress.done < progress.total) return;
      lastLine = now;
      io.err(`rebuilding orders: ${progress.done}/${progress.total} looked at, ${progress.written} written, ${progress.current} already current`);
    },
    stop: () => undefined,
  };
}

const rebuild: CliCommand = {
  summary: "rebuild a read model from its service's write side while the service keeps serving",
  usage: "projections rebuild orders [--page-size N]",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { "page-size": { type: "string" } } });
    const projection = positionals[0];
    if (projection === undefined || !(projections as readonly string[]).includes(projection)) {
      io.err(projection === undefined ? `usage: ${this.usage}` : `unknown read model "${projection}"; the read models are ${projections.join(", ")}`);
      return 2;
    }
    const pageSize = values["page-size"] === undefined ? 200 : Number(values["page-size"]);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      io.err("--page-size must be a whole number from 1 to 1000");
      return 2;
    }
    const db = createDatabase<OrderingDatabase>(io.env.MEL_ORDERING_DATABASE_URL || "sqlite:data/ordering.db", {
      variable: "MEL_ORDERING_DATABASE_URL",
      maxConnections: 2,
    });
    const logger = createLogger({ service: "mel-cli", level: "warn" });
    try {
      const mongo = await connectMongo(io.env.MEL_ORDERING_MONGODB_URL || "mongodb://127.0.0.1:27017/mel-ordering", {
        timeoutMs: 10_000,
        logger,
        purpose: "the order read model",
      });
      try {
        const readModel = orderReadModelOn(mongo.connection, { claimWrites: !(await hasAtomicConditionalUpdates(mongo.connection)) });
        await createOrderReadModelIndexes(readModel);
        const reporter = progressReporter(io);
        const started = Date.now();
        let summary: RebuildProgress;
        try {
          summary = await rebuildOrderViews({ db, readModel, pageSize, onProgress: (progress) => reporter.update(progress) });
        } finally {
          reporter.stop();
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        io.out(
          `rebuilt the orders read model in ${seconds} s: ${summary.done} order(s) looked at, ${summary.written} written, ${summary.current} already current (newer changes are the projection's)`,
        );
        return 0;
      } finally {
        await mongo.close();
      }
    } finally {
      await db.destroy();
    }
  },
};

export const projectionsCommands: Record<string, CliCommand> = { rebuild };
