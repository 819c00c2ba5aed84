/**
 * Conditional writes (`ifVersion`, HTTP If-Match): compare-and-set against
 * this replica's current version of a document. The check runs in the same
 * synchronous step as the write it guards (inside DocSlots.write, or under the
 * document's gate for a delete), so no other local write can come in between.
 *
 * A condition names versions by tag (version-tag.ts) or in long form (the
 * base64url `version` of a read or ack, the form ETags had before tags).
 */
import { ConcordError } from "../errors.ts";
import { isVersionTag } from "./version-tag.ts";
import { decodeVersion } from "./version-token.ts";

/** What a write requires of the document's current version: any of these tags or long-form versions. */
export interface WriteCondition {
  tags: ReadonlySet<string>;
  versions: ReadonlySet<string>;
}

/** What the check reads of the document, computed only if the condition needs it. */
export interface CurrentVersion {
  tag(): string;
  version(): string;
}

/**
 * Parses `ifVersion` before anything is touched. Undefined when there is no
 * condition. ConcordError "invalid_argument" for anything that is neither a
 * tag nor a base64url version, or an empty list.
 */
export function parseWriteCondition(ifVersion: unknown): WriteCondition | undefined {
  if (ifVersion === undefined) return undefined;
  const given: unknown[] = typeof ifVersion === "string" ? [ifVersion] : Array.isArray(ifVersion) ? ifVersion : [ifVersion];
  if (given.length === 0) throw new ConcordError("invalid_argument", "ifVersion is a version or an etag, or a non-empty list of them");
  const tags = new Set<string>();
  const versions = new Set<string>();
  for (const value of given) {
    if (typeof value !== "string" || value.length === 0) {
      throw new ConcordError("invalid_argument", "ifVersion is a version or an etag (a string from a read or an ack)");
    }
    if (isVersionTag(value)) tags.add(value);
    else {
      decodeVersion(value); // throws invalid_argument for what is no version at all
      versions.add(value);
    }
  }
  return { tags, versions };
}

/** Throws "precondition_failed" (details: the current `etag`) unless the document is at one of the condition's versions. */
export function checkWriteCondition(condition: WriteCondition | undefined, id: string, current: CurrentVersion): void {
  if (condition === undefined) return;
  if (condition.tags.size > 0 && condition.tags.has(current.tag())) return;
  if (condition.versions.size > 0 && condition.versions.has(current.version())) return;
  const etag = current.tag();
  throw new ConcordError(
    "precondition_failed",
    `"${id}" is no longer at the version the write was conditional on: it is at ${etag} in this region (read it, merge, and retry with that etag)`,
    { details: { etag } },
  );
}
