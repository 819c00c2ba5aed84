/**
 * Read-your-writes: `read(id, { after: token })` waits until this replica
 * holds the write behind a token (from a WriteAck made in any region), or
 * fails with "not_caught_up" after `timeoutMs`.
 */
import { docKinds } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { conflictDocId } from "./doc-id.ts";
import type { LoadedDoc } from "./loaded-doc.ts";
import { decodeVersion } from "./version-token.ts";

export interface ReadAfterDeps<V> {
  region: string;
  clock: Clock;
  feed: ChangeFeed;
  loaded(id: string): Promise<LoadedDoc>;
  view(doc: LoadedDoc): V;
}

export async function readAfter<V>(deps: ReadAfterDeps<V>, id: string, token: string, timeoutMs: number): Promise<V> {
  const version = decodeVersion(token);
  const caughtUp = async () => {
    const doc = await deps.loaded(id).catch((error: unknown) => {
      if (isConcordError(error, "not_found")) return undefined; // it may still be on its way here
      throw error;
    });
    return doc && includes(doc, version) ? deps.view(doc) : undefined;
  };
  return deps.feed.waitFor(deps.clock, id, caughtUp, timeoutMs, () =>
    new ConcordError("not_caught_up", `region ${deps.region} has not caught up with that write of "${id}" yet`, {
      details: { retryAfterMs: 1000 },
    }));
}

/** Whether `doc` holds the write behind a token's version; a token of the other kind is a clear error. */
function includes(doc: LoadedDoc, version: Uint8Array): boolean {
  try {
    return doc.engine.includes(doc.state, version);
  } catch (cause) {
    const { id, kind } = doc.handle;
    const other = docKinds.find((k) => k !== kind)!;
    throw new ConcordError(
      "invalid_argument",
      `that token is not a version of "${id}" as it is now (${kind}); after a kind conflict, writes of the other kind are in "${conflictDocId(id, other)}"`,
      { cause },
    );
  }
}
