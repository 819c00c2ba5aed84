/** The shape of one `concord` subcommand, and the flag handling shared by all. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConcordError } from "../errors.ts";

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full help text: usage, options, examples. */
  help: string;
  /** Returns the process exit code. */
  run(args: string[]): Promise<number>;
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** Parses flags strictly: an unknown flag is a clear error, not silently ignored. */
export function parseFlags<O extends Options>(args: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new ConcordError("invalid_argument", (cause as Error).message, { cause });
  }
}

export interface CommandSpec<O extends Options> {
  name: string;
  summary: string;
  help: string;
  /** The command's flags; -h/--help is added to every command. */
  flags: O;
  /** When true, running the command with no arguments prints its help and exits 2 (it has nothing sensible to do bare). */
  bareIsUsage?: boolean;
  run(values: Parsed<O>["values"], positionals: string[]): Promise<number>;
}

/** A Command from its flags and body: --help prints the help and exits 0; strict flag parsing. */
export function defineCommand<O extends Options>(spec: CommandSpec<O>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    help: spec.help,
    async run(args) {
      const { values, positionals } = parseFlags(args, { ...spec.flags, help: { type: "boolean", short: "h" } });
      if ((values as { help?: boolean }).help || (spec.bareIsUsage && args.length === 0)) {
        process.stdout.write(spec.help);
        return args.length === 0 ? 2 : 0;
      }
      return spec.run(values as Parsed<O>["values"], positionals);
    },
  };
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new ConcordError("invalid_argument", `${flag} is required`);
  return value;
}
