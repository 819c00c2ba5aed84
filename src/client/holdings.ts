/** What a replica holds of a document set, as catch-up entries: both sides of a sync socket compute it the same way. */
import type { Replica } from "../replica/replica.ts";
import { encodeVersion } from "../replica/version-token.ts";
import type { DocEntry, DocSet } from "./protocol.ts";

/**
 * Entries of `set` in `replica`: every listed id it holds (deleted ones as
 * deleted), or every id under the prefix, live or deleted. `skip` leaves ids
 * out (the client's own bookkeeping documents).
 */
export async function holdings(replica: Replica, set: DocSet, skip: (id: string) => boolean = () => false): Promise<DocEntry[]> {
  const ids: string[] = [];
  if ("prefix" in set) for await (const id of replica.list({ prefix: set.prefix })) ids.push(id);
  else ids.push(...set.ids);
  const entries: DocEntry[] = [];
  for (const id of ids) {
    if (skip(id)) continue;
    const status = await replica.status(id);
    if (status.state === "present") entries.push({ id, kind: status.kind, version: encodeVersion(status.version) });
    else if (status.state === "deleted") entries.push({ id, deleted: true });
  }
  if ("prefix" in set) {
    for await (const id of replica.tombstones()) if (id.startsWith(set.prefix) && !skip(id)) entries.push({ id, deleted: true });
  }
  return entries;
}
