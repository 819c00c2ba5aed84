/** `concord tokens`: add, list and revoke a region's bearer tokens (tokens.json holds only their hashes). */
import { ConcordError } from "../errors.ts";
import { scopes, type Scope } from "../server/auth.ts";
import { addToken, readTokensFile, revokeToken, tokensFile } from "../server/tokens-file.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";

const help = `Usage:
  concord tokens add    --data DIR --name NAME --scopes read,write[,admin] [--prefix P]
  concord tokens list   --data DIR
  concord tokens revoke --data DIR --name NAME

add     Makes a new random token, prints it once on stdout, and stores only its
        SHA-256 in DIR/tokens.json (created mode 0600 if missing). Keep the
        printed token: it cannot be shown again. With --prefix, the token
        reaches only documents whose id starts with P (its sockets and streams
        too).
list    Shows each token's name, scopes and prefix (never a token: they are
        not stored).
revoke  Removes the token named NAME. A running region re-reads tokens.json
        within a moment of any change, without a restart; revoking closes that
        token's live sync sockets.

A region's tokens are its own. To give every region of a topology the same
tokens, add them in one region's DIR and copy its tokens.json to the others
(a running region picks the copy up too).

Options:
  --data DIR       the region's data directory (required)
  --name NAME      a label for logs and metrics, unique in the file
  --scopes LIST    comma-separated: ${scopes.join(", ")}
  --prefix P       limit the token to document ids starting with P

Examples:
  concord tokens add --data data/us-east --name web-app --scopes read,write --prefix app/
  cp data/us-east/tokens.json data/eu-west/tokens.json
  concord tokens revoke --data data/us-east --name web-app
`;

function parseScopes(list: string | undefined): Scope[] {
  const names = requireFlag(list, "--scopes").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const unknown = names.filter((s) => !(scopes as readonly string[]).includes(s));
  if (names.length === 0 || unknown.length > 0) {
    throw new ConcordError("invalid_argument", `--scopes takes a comma-separated list of ${scopes.join(", ")}${unknown.length ? ` (unknown: ${unknown.join(", ")})` : ""}`);
  }
  return [...new Set(names)] as Scope[];
}

export const tokensCommand: Command = defineCommand({
  name: "tokens",
  summary: "add, list or revoke a region's bearer tokens (takes effect on a running region)",
  help,
  bareIsUsage: true,
  flags: {
    data: { type: "string" },
    name: { type: "string" },
    scopes: { type: "string" },
    prefix: { type: "string" },
  },
  async run(values, positionals) {
    const action = positionals[0];
    if (positionals.length !== 1) throw new ConcordError("invalid_argument", 'say which: "concord tokens add", "list" or "revoke"');
    const file = tokensFile(requireFlag(values.data, "--data"));
    if (action === "add") {
      const name = requireFlag(values.name, "--name");
      const entry = { name, scopes: parseScopes(values.scopes), ...(values.prefix ? { prefix: values.prefix } : {}) };
      const token = await addToken(file, entry);
      process.stdout.write(`${token}\n`);
      process.stderr.write(`added token "${name}" (${entry.scopes.join(",")}${entry.prefix ? `, prefix "${entry.prefix}"` : ""}) to ${file}; it is shown only this once\n`);
      return 0;
    }
    if (action === "list") {
      const tokens = (await readTokensFile(file)) ?? [];
      if (tokens.length === 0) process.stderr.write(`no tokens in ${file}\n`);
      for (const t of tokens) process.stdout.write(`${t.name}\t${t.scopes.join(",")}\t${t.prefix ?? ""}\n`);
      return 0;
    }
    if (action === "revoke") {
      const gone = await revokeToken(file, requireFlag(values.name, "--name"));
      process.stdout.write(`revoked token "${gone.name}" in ${file}\n`);
      return 0;
    }
    throw new ConcordError("invalid_argument", `unknown tokens action "${action}" (add, list or revoke)`);
  },
});
