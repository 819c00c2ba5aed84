/**
 * A region's tokens.json: hashed bearer tokens with scopes. `addToken` makes a
 * new random token, stores only its hash, and returns the token once.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
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

/** Adds a token to `path` (creating the file, mode 0600) and returns the token: it is stored only as a hash. */
export async function addToken(path: string, entry: { name: string; scopes: Scope[]; prefix?: string }, token = newToken()): Promise<string> {
  const tokens = (await readTokensFile(path)) ?? [];
  tokens.push({ ...entry, sha256: hashToken(token) });
  await writeFile(path, JSON.stringify({ tokens }, null, 2) + "\n", { mode: 0o600 });
  return token;
}
