/** The shape of one `concord` subcommand, and argument parsing shared by all. */
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

/** Parses flags strictly: an unknown flag is a clear error, not silently ignored. */
export function parseFlags<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new ConcordError("invalid_argument", (cause as Error).message, { cause });
  }
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new ConcordError("invalid_argument", `${flag} is required`);
  return value;
}
