/**
 * How `concord` starts itself again as a child process (`concord cluster`
 * runs one `concord serve` per region): the built bin next to this module
 * when it runs as built JavaScript, or the development launcher (tsx) when it
 * runs from the TypeScript sources.
 */
import { fileURLToPath } from "node:url";

/** The script to run with `process.execPath` to get the `concord` command this process is. */
export function concordScript(): string {
  const fromSources = import.meta.url.endsWith(".ts");
  return fileURLToPath(new URL(fromSources ? "../concord.mjs" : "../concord.js", import.meta.url));
}
