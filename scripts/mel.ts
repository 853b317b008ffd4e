// `npm run mel -- <group> <command> [options]`: the operator CLI. Each group
// (dlq, outbox, keys, projections) registers its commands in `groups` below; the
// dispatcher only parses the first two words, prints help, and turns a
// command's result or error into an exit code.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dlqCommands } from "./mel-dlq.js";
import { keysCommands } from "./mel-keys.js";
import { outboxCommands } from "./mel-outbox.js";
import { projectionsCommands } from "./mel-projections.js";

export interface CliCommand {
  summary: string;
  usage: string;
  /** Returns the exit code. `args` are the words after the command name. */
  run(args: string[], io: CliIo): Promise<number>;
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Where a long-running command draws a progress bar: stderr when it is a terminal; absent otherwise (plain lines through err). */
  progressStream?: NodeJS.WritableStream;
}

export const groups: Record<string, Record<string, CliCommand>> = {
  dlq: dlqCommands,
  keys: keysCommands,
  outbox: outboxCommands,
  projections: projectionsCommands,
};

function help(io: CliIo): void {
  io.out("usage: npm run mel -- <group> <command> [options]");
  for (const [group, commands] of Object.entries(groups)) {
    for (const [name, command] of Object.entries(commands)) io.out(`  ${group} ${name.padEnd(8)} ${command.summary}\n      ${command.usage}`);
  }
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [group, name, ...rest] = argv;
  if (group === undefined || group === "help" || group === "--help" || group === "-h") {
    help(io);
    return group === undefined ? 2 : 0;
  }
  const command = groups[group]?.[name ?? ""];
  if (!command) {
    io.err(`unknown command "${[group, name].filter(Boolean).join(" ")}"`);
    help(io);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    io.err(`${group} ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

// Run only as the entry point, so the command table can be imported (tests, other tools).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = await runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    ...(process.stderr.isTTY ? { progressStream: process.stderr } : {}),
  });
}
