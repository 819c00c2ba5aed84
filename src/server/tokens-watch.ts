/**
 * Keeps a running region's TokenTable in step with its tokens.json, so
 * `concord tokens add/revoke` takes effect without a restart. The directory is
 * watched (the file is replaced by rename, which a watch on the file itself
 * would lose), changes are debounced, and a file that cannot be read or parsed
 * keeps the tokens already loaded: a bad edit must never open the region or
 * lock everyone out, and it is logged.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.ts";
import type { TokenTable } from "./auth.ts";
import { readTokensFile } from "./tokens-file.ts";

export interface TokensWatchOptions {
  file: string;
  table: TokenTable;
  clock: Clock;
  logger?: Logger | undefined;
  /** Quiet time after the last change before re-reading, ms. Default 100. */
  debounceMs?: number;
}

/** Starts watching; the returned function stops it. */
export function watchTokensFile(options: TokensWatchOptions): () => void {
  const name = basename(options.file);
  let cancelTimer: (() => void) | undefined;
  let reading = Promise.resolve();
  const reload = async () => {
    try {
      const tokens = await readTokensFile(options.file);
      if (tokens === undefined) {
        options.logger?.warn({ file: options.file }, "tokens file is gone: keeping the tokens loaded before");
        return;
      }
      options.table.replace(tokens);
      options.logger?.info({ tokens: tokens.length }, "tokens reloaded");
    } catch (error) {
      options.logger?.error({ err: error }, "tokens file is not valid: keeping the tokens loaded before");
    }
  };
  const changed = () => {
    cancelTimer?.();
    cancelTimer = options.clock.timer(options.debounceMs ?? 100, () => {
      cancelTimer = undefined;
      reading = reading.then(reload);
    });
  };
  let watcher: FSWatcher | undefined = watch(dirname(options.file), { persistent: false }, (_event, file) => {
    if (file === null || file.toString() === name) changed();
  });
  watcher.on("error", (error) => options.logger?.error({ err: error }, "watching the tokens file failed"));
  return () => {
    cancelTimer?.();
    watcher?.close();
    watcher = undefined;
  };
}
