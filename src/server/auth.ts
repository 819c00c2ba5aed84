/**
 * Bearer tokens with scopes. A region keeps only SHA-256 hashes of its tokens
 * (tokens.json), so a leaked file grants nothing; a token may be limited to
 * document ids under a prefix. Gossip does not use tokens: frames are
 * authenticated by the pair keys (src/gossip/secure-channel.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
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
 * Middleware: resolves the bearer token into a Principal (401 when missing or
 * unknown). With `tokens` undefined, authentication is off and every request
 * is the open principal.
 */
export function authenticate(tokens: readonly TokenRecord[] | undefined): MiddlewareHandler<{ Variables: { principal: Principal } }> {
  // Built once per token, not per request: the principal and the hash's bytes.
  const byHash = new Map((tokens ?? []).map((t) => [t.sha256, {
    digest: Buffer.from(t.sha256, "hex"),
    principal: { name: t.name, scopes: new Set(t.scopes), prefix: t.prefix ?? "" } satisfies Principal,
  }]));
  return async (c, next) => {
    if (tokens === undefined) {
      c.set("principal", openPrincipal);
      return next();
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ConcordError("unauthorized", "send Authorization: Bearer <token>");
    const digest = sha256(match[1]!);
    const known = byHash.get(digest.toString("hex"));
    // The map lookup is on a hash of the secret, so its timing leaks nothing useful; compare anyway to be explicit.
    if (!known || !timingSafeEqual(known.digest, digest)) throw new ConcordError("unauthorized", "unknown token");
    c.set("principal", known.principal);
    return next();
  };
}

/** Throws "forbidden" unless the principal has `scope` (and, for a document, the id is under its prefix). */
export function authorize(principal: Principal, scope: Scope, id?: string): void {
  if (!principal.scopes.has(scope)) throw new ConcordError("forbidden", `this token lacks the "${scope}" scope`);
  if (id !== undefined && !id.startsWith(principal.prefix)) {
    throw new ConcordError("forbidden", `this token reaches only documents under "${principal.prefix}"`);
  }
}
