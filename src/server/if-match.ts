/**
 * HTTP preconditions on documents: the entity tags of If-Match (conditional
 * writes) and If-None-Match (304s), read into the versions they name.
 *
 * A document's ETag is `"<etag>"` for its JSON, `"<etag>.update"` and
 * `"<etag>.diff"` for its binary forms (DocHead.etag: a fixed-size tag). Every
 * form names the same version, so any of them works in If-Match. Tags in the
 * long form ETags had before (`"<version>"`) are still accepted. A weak tag
 * (`W/"…"`, as a compressing proxy turns a strong one into) names the same
 * version too: it is compared by its value.
 */
import { fail } from "./http-errors.ts";

const representationSuffixes = [".update", ".diff"] as const;

/** The entity tags of an If-Match / If-None-Match header, unquoted; "*" stays "*". */
export function entityTags(header: string): string[] {
  const tags: string[] = [];
  for (const raw of header.split(",")) {
    let tag = raw.trim();
    if (tag === "") continue;
    if (tag.startsWith("W/")) tag = tag.slice(2);
    if (tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"')) tag = tag.slice(1, -1);
    tags.push(tag);
  }
  return tags;
}

/** The version (tag or long form) an entity tag names: the tag without its representation suffix. */
export function taggedVersion(tag: string): string {
  for (const suffix of representationSuffixes) if (tag.endsWith(suffix)) return tag.slice(0, -suffix.length);
  return tag;
}

/**
 * The `ifVersion` of a write from its If-Match header: undefined without one
 * or for `*` (the document must exist, as any write requires anyway).
 * ConcordError "invalid_argument" for a header naming nothing.
 */
export function ifMatchVersions(header: string | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const tags = entityTags(header);
  if (tags.includes("*")) return undefined;
  if (tags.length === 0) fail("invalid_argument", 'If-Match names the ETag of a read or an ack ("v1.…")');
  return tags.map(taggedVersion);
}

/** Whether an If-None-Match header names any of `etags` (quoted, as sent) or is `*`. */
export function noneMatchHits(header: string | undefined, etags: readonly string[]): boolean {
  if (header === undefined) return false;
  const wanted = new Set(etags.map((etag) => etag.slice(1, -1)));
  return entityTags(header).some((tag) => tag === "*" || wanted.has(tag));
}
