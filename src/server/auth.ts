/**
 * Bearer tokens with scopes. A region keeps only SHA-256 hashes of its tokens
 * (tokens.json), so a leaked file grants nothing; a token may be limited to
 * document ids under a prefix. Gossip does not use tokens: frames are
 * authenticated by the pair keys (src/gossip/secure-channel.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { isSystemId, systemIdPrefix } from "../query/index-catalog.ts";
import { ConcordError } from "../errors.ts";

export const scopes = ["read", "write", "admin"] as const;
export type Scope = (typeof scopes)[number];

/** One token as stored: never the token itself. */
export interface TokenRecord {
  /** A label for logs and metrics, e.g. "dev" or "billing-service". */
  name: string;
  /** Hex SHA-256 of the token. */
  sha256: string;
  scopes: Scope[];
  /** When set, the token reaches only documents whose id starts with it. */
  prefix?: string;
}

/** Who made a request: set on the context by the auth middleware. */
export interface Principal {
  name: string;
  scopes: ReadonlySet<Scope>;
  prefix: string;
  /** Hex SHA-256 of the token (absent for the open principal): names it for revocation. */
  tokenHash?: string;
}

// createHash, not crypto.hash: that one-shot needs Node 20.12, and the package says Node 20.
const sha256 = (token: string) => createHash("sha256").update(token, "utf8").digest();

/** Hex SHA-256 of a token: the only form in which tokens are stored. */
export function hashToken(token: string): string {
  return sha256(token).toString("hex");
}

/** Checks a parsed tokens.json (`{ "tokens": [TokenRecord, ...] }`); a bad file is a clear invalid_argument. */
export function parseTokens(json: unknown, source = "tokens"): TokenRecord[] {
  const list = (json as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) throw new ConcordError("invalid_argument", `${source}: expected { "tokens": [ ... ] }`);
  return list.map((raw: unknown, i) => {
    const t = raw as Partial<TokenRecord> | null;
    const at = `${source}: tokens[${i}]`;
    if (typeof t?.name !== "string" || t.name === "") throw new ConcordError("invalid_argument", `${at}.name must be a non-empty string`);
    if (typeof t.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(t.sha256)) throw new ConcordError("invalid_argument", `${at}.sha256 must be 64 hex characters`);
    if (!Array.isArray(t.scopes) || !t.scopes.every((s) => (scopes as readonly string[]).includes(s))) {
      throw new ConcordError("invalid_argument", `${at}.scopes must list ${scopes.join(", ")}`);
    }
    if (t.prefix !== undefined && typeof t.prefix !== "string") throw new ConcordError("invalid_argument", `${at}.prefix must be a string`);
    return { name: t.name, sha256: t.sha256, scopes: t.scopes, ...(t.prefix ? { prefix: t.prefix } : {}) };
  });
}

/** Every scope, no prefix: what a server without a token list grants (development and in-process tests). */
export const openPrincipal: Principal = { name: "anonymous", scopes: new Set(scopes), prefix: "" };

/**
 * The accepted tokens, replaceable while the server runs (`concord tokens`
 * edits tokens.json; the region re-reads it). Lookups are by the hash of the
 * secret. Replacing the list tells listeners which tokens went away, so live
 * sockets and streams of a revoked token close.
 */
export interface TokenTable {
  /** The principal of `token`, or undefined when it is unknown (or revoked). */
  lookup(token: string): Principal | undefined;
  /** Swaps in a new list; tokens missing from it are announced as revoked. */
  replace(tokens: readonly TokenRecord[]): void;
  /** Calls `fn` with the hash of every revoked token; returns an unsubscribe function. */
  onRevoke(fn: (sha256: string) => void): () => void;
}

export function createTokenTable(initial: readonly TokenRecord[]): TokenTable {
  type Entry = { digest: Buffer; principal: Principal };
  const build = (tokens: readonly TokenRecord[]) => new Map<string, Entry>(tokens.map((t) => [t.sha256, {
    digest: Buffer.from(t.sha256, "hex"),
    principal: { name: t.name, scopes: new Set(t.scopes), prefix: t.prefix ?? "", tokenHash: t.sha256 } satisfies Principal,
  }]));
  let byHash = build(initial);
  const listeners = new Set<(sha256: string) => void>();
  return {
    lookup(token) {
      const digest = sha256(token);
      const known = byHash.get(digest.toString("hex"));
      // The map lookup is on a hash of the secret, so its timing leaks nothing useful; compare anyway to be explicit.
      return known && timingSafeEqual(known.digest, digest) ? known.principal : undefined;
    },
    replace(tokens) {
      const next = build(tokens);
      const gone = [...byHash.keys()].filter((hash) => !next.has(hash));
      byHash = next;
      for (const hash of gone) for (const fn of [...listeners]) fn(hash);
    },
    onRevoke(fn) {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
  };
}

/** The token a request carries: `Authorization: Bearer T`, or (for sockets, which browsers cannot give headers) `?token=T`. */
export function bearerToken(authorization: string | undefined, query?: string | null): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  return match ? match[1]! : query || undefined;
}

/**
 * Middleware: resolves the bearer token into a Principal (401 when missing or
 * unknown). With `tokens` undefined, authentication is off and every request
 * is the open principal. A TokenTable may change while the server runs.
 */
export function authenticate(tokens: readonly TokenRecord[] | TokenTable | undefined): MiddlewareHandler<{ Variables: { principal: Principal } }> {
  const table = tokens === undefined || isTokenTable(tokens) ? tokens : createTokenTable(tokens);
  return async (c, next) => {
    if (table === undefined) {
      c.set("principal", openPrincipal);
      return next();
    }
    const token = bearerToken(c.req.header("authorization"));
    if (token === undefined) throw new ConcordError("unauthorized", "send Authorization: Bearer <token>");
    const principal = table.lookup(token);
    if (!principal) throw new ConcordError("unauthorized", "unknown token");
    c.set("principal", principal);
    return next();
  };
}

export function isTokenTable(tokens: readonly TokenRecord[] | TokenTable): tokens is TokenTable {
  return typeof (tokens as TokenTable).lookup === "function";
}

/** Throws "forbidden" unless the principal has `scope` (and, for a document, the id is under its prefix). */
export function authorize(principal: Principal, scope: Scope, id?: string): void {
  if (!principal.scopes.has(scope)) throw new ConcordError("forbidden", `this token lacks the "${scope}" scope`);
  // The store's own documents (index definitions) are changed through their admin routes only.
  if (id !== undefined && isSystemId(id) && id.length > systemIdPrefix.length) {
    throw new ConcordError("forbidden", `"${id}" is one of the store's own documents`);
  }
  if (id !== undefined && !id.startsWith(principal.prefix)) {
    throw new ConcordError("forbidden", `this token reaches only documents under "${principal.prefix}"`);
  }
}
