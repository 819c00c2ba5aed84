/**
 * `concord`: one command for operators, app developers and simulation users.
 * Each subcommand lives in src/cli/; this file only dispatches and reports
 * errors (a ConcordError prints its code and message, never a stack).
 */
import { isConcordError } from "./errors.ts";
import type { Command } from "./cli/command.ts";
import { demoCommand } from "./cli/demo.ts";
import { keysCommand } from "./cli/keys.ts";
import { simCommand } from "./cli/sim.ts";
import { serveCommand } from "./cli/serve.ts";
import { clusterCommand } from "./cli/cluster.ts";
import { backupCommand } from "./cli/backup.ts";
import { repairCommand } from "./cli/repair.ts";
import { restoreCommand } from "./cli/restore.ts";

const commands: Command[] = [demoCommand, keysCommand, serveCommand, clusterCommand, backupCommand, restoreCommand, repairCommand, simCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `concord — a multi-region, active-active CRDT document store

Usage: concord <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run "concord <command> --help" for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? commands.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? topic.help : usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`concord: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (isConcordError(error)) {
      process.stderr.write(`concord ${name}: ${error.message} [${error.code}]\n`);
      return error.code === "invalid_argument" ? 2 : 1;
    }
    throw error;
  }
}
