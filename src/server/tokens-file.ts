/**
 * A region's tokens.json: hashed bearer tokens with scopes. `addToken` makes a
 * new random token, stores only its hash, and returns the token once.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { hashToken, parseTokens, type Scope, type TokenRecord } from "./auth.ts";

export function tokensFile(dataDir: string): string {
  return join(dataDir, "tokens.json");
}

/** The tokens in `path`; undefined when the file does not exist. */
export async function readTokensFile(path: string): Promise<TokenRecord[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConcordError("invalid_argument", `cannot read ${path}`, { cause });
  }
  try {
    return parseTokens(JSON.parse(text), path);
  } catch (cause) {
    if (cause instanceof ConcordError) throw cause;
    throw new ConcordError("invalid_argument", `${path} is not JSON`, { cause });
  }
}

/**
 * The tokens in `path`, which must exist: a lost or deleted file must never
 * turn authentication off. Running open is chosen explicitly (`--auth off`).
 */
export async function requireTokensFile(path: string): Promise<TokenRecord[]> {
  const tokens = await readTokensFile(path);
  if (tokens !== undefined) return tokens;
  throw new ConcordError(
    "invalid_argument",
    `no tokens file at ${path}: create it as {"tokens":[{"name":"app","sha256":"<hex SHA-256 of the token>","scopes":["read","write"]}]} ` +
      `(e.g. TOKEN=cct_$(openssl rand -hex 32); printf %s "$TOKEN" | sha256sum), or start with --auth off to run without authentication (development only)`,
    { details: { file: path } },
  );
}

/** A new random token, "cct_" + 43 base64url characters. */
export function newToken(): string {
  return "cct_" + randomBytes(32).toString("base64url");
}

/**
 * Writes the list whole and atomically (a temporary file renamed over the old
 * one, mode 0600), so a running region never reads half a file.
 */
export async function writeTokensFile(path: string, tokens: readonly TokenRecord[]): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify({ tokens }, null, 2) + "\n", { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * Adds a token to `path` (creating the file) and returns the token: it is stored only as a hash.
 * Names are unique, so `revokeToken` names exactly one; "exists" when the name is taken.
 */
export async function addToken(path: string, entry: { name: string; scopes: Scope[]; prefix?: string }, token = newToken()): Promise<string> {
  const tokens = (await readTokensFile(path)) ?? [];
  if (tokens.some((t) => t.name === entry.name)) {
    throw new ConcordError("exists", `a token named "${entry.name}" exists in ${path}: revoke it first, or pick another name`);
  }
  const record: TokenRecord = { name: entry.name, sha256: hashToken(token), scopes: entry.scopes, ...(entry.prefix ? { prefix: entry.prefix } : {}) };
  await writeTokensFile(path, [...tokens, record]);
  return token;
}

/** Removes the token named `name` from `path`; "not_found" when there is none. */
export async function revokeToken(path: string, name: string): Promise<TokenRecord> {
  const tokens = (await readTokensFile(path)) ?? [];
  const gone = tokens.find((t) => t.name === name);
  if (!gone) throw new ConcordError("not_found", `no token named "${name}" in ${path}`);
  await writeTokensFile(path, tokens.filter((t) => t !== gone));
  return gone;
}
