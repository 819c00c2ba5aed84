/**
 * `--store postgres://…` for a region: which PostgreSQL store it runs on.
 * The URL is node-postgres's, plus one parameter of ours, `schema`, which
 * names the schema holding the region's tables (default: concord_<region>,
 * so regions of a topology can share one database without sharing tables).
 * Every process of one region must name the same schema.
 *
 *   postgres://concord@db.internal:5432/concord?schema=concord_us_east
 */
import { ConcordError } from "../errors.ts";
import type { PostgresStoreOptions } from "../storage/postgres-store.ts";
import { redactUrl } from "../storage/postgres-errors.ts";

/** The default schema of `region`: its id folded to a plain identifier. */
export function defaultSchema(region: string): string {
  return `concord_${region.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`.slice(0, 63);
}

/** Options for openPostgresStore from a `--store` value. Throws ConcordError("invalid_argument") for anything but a postgres:// URL. */
export function parseStoreUrl(text: string, region: string): PostgresStoreOptions {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConcordError("invalid_argument", `--store must be a postgres:// URL, got ${JSON.stringify(redactUrl(text))}`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConcordError("invalid_argument", `--store must be a postgres:// URL (the embedded LMDB store needs no --store), got ${url.protocol}//…`);
  }
  const schema = url.searchParams.get("schema") ?? defaultSchema(region);
  url.searchParams.delete("schema");
  return { url: url.toString(), schema, applicationName: `concord-${region}`.slice(0, 63) };
}
