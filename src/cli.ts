/**
 * `concord`: one command for operators, app developers and simulation users.
 * Each subcommand lives in src/cli/; this file only dispatches and reports
 * errors (a ConcordError prints its code and message, never a stack).
 *
 * Commands load lazily: the table below holds each command's name and summary
 * and how to import it, so `concord --help` loads this file alone (no engines,
 * LMDB or libsodium), and each command loads only its own module graph.
 */
import { isConcordError } from "./errors.ts";
import type { Command } from "./cli/command.ts";

/** One entry of the command table; `summary` must equal the loaded command's (test/cli.test.ts checks). */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/** Every command, in the order `concord --help` lists them. */
export const commandTable: readonly CommandEntry[] = [
  { name: "demo", summary: "write, reopen and read back documents on the embedded store", load: async () => (await import("./cli/demo.ts")).demoCommand },
  { name: "keys", summary: "create or rotate a region's master key", load: async () => (await import("./cli/keys.ts")).keysCommand },
  { name: "serve", summary: "run one region's HTTP server", load: async () => (await import("./cli/serve.ts")).serveCommand },
  { name: "cluster", summary: "run every region of a topology locally (what npm start does)", load: async () => (await import("./cli/cluster.ts")).clusterCommand },
  { name: "tokens", summary: "add, list or revoke a region's bearer tokens (takes effect on a running region)", load: async () => (await import("./cli/tokens.ts")).tokensCommand },
  { name: "index", summary: "add, list or drop secondary indexes (replicated to every region)", load: async () => (await import("./cli/indexes.ts")).indexCommand },
  { name: "backup", summary: "write a sealed, checksummed backup archive of a region", load: async () => (await import("./cli/backup.ts")).backupCommand },
  { name: "restore", summary: "restore a backup archive into an empty data directory, or verify one", load: async () => (await import("./cli/restore.ts")).restoreCommand },
  { name: "repair", summary: "rebuild a damaged region's store from what is intact, and its peers", load: async () => (await import("./cli/repair.ts")).repairCommand },
  { name: "sim", summary: "run the deterministic partition simulator (one seed or a sweep)", load: async () => (await import("./cli/sim.ts")).simCommand },
];

function usage(): string {
  const width = Math.max(...commandTable.map((c) => c.name.length));
  return `concord — a multi-region, active-active CRDT document store

Usage: concord <command> [options]

Commands:
${commandTable.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run "concord <command> --help" for a command's options.
`;
}

/** Runs `concord` with `argv` (without node and the script); resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? commandTable.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? (await topic.load()).help : usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commandTable.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`concord: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await entry.load()).run(rest);
  } catch (error) {
    if (isConcordError(error)) {
      process.stderr.write(`concord ${name}: ${error.message} [${error.code}]\n`);
      return error.code === "invalid_argument" ? 2 : 1;
    }
    throw error;
  }
}
