/** `concord tokens` end to end: a token added or revoked takes effect on a running `concord serve` without a restart. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll } from "../server/processes.ts";
import { startTokenCluster, type TokenCluster } from "./token-cluster.ts";

describe("concord tokens", () => {
  let cluster: TokenCluster;
  beforeAll(async () => {
    cluster = await startTokenCluster(["solo"], "concord-tokens-");
    await cluster.serve("solo");
  }, 240_000);
  afterAll(async () => cluster?.stop());

  const get = (path: string, token: string) => fetch(cluster.urls.solo + path, { headers: { authorization: `Bearer ${token}` } });

  it("prints a new token once, stores only its hash, and a running region accepts it, then refuses it once revoked and ends its event stream", async () => {
    const added = cluster.tokens("solo", ["add", "--name", "app", "--scopes", "read,write", "--prefix", "app/"]);
    expect(added.status, added.stderr).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^cct_[A-Za-z0-9_-]{43}$/);
    const file = await readFile(join(cluster.dataDir("solo"), "tokens.json"), "utf8");
    expect(file).not.toContain(token);
    expect(file).not.toContain(token.slice(4));

    // Accepted without a restart (the region re-reads the file), and limited to its prefix.
    await poll("the new token to be accepted", async () => ((await get("/v1/docs?prefix=app/", token)).status === 200 ? true : undefined));
    expect((await get("/v1/docs?prefix=other/", token)).status).toBe(403);

    const listed = cluster.tokens("solo", ["list"]);
    expect(listed.stdout).toContain("app\tread,write\tapp/");
    expect(listed.stdout).toContain("admin\tread,write,admin\t");
    expect(listed.stdout).not.toContain(token);

    // A live event stream of the token, which revoking must end.
    const put = await fetch(`${cluster.urls.solo}/v1/docs/app%2Fdoc`, {
      method: "PUT", body: JSON.stringify({ kind: "yjs" }), headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    });
    expect(put.status).toBe(201);
    const stream = await get("/v1/docs/app%2Fdoc/events", token);
    expect(stream.status).toBe(200);
    const streamEnded = (async () => {
      const reader = stream.body!.getReader();
      for (;;) if ((await reader.read()).done) return true;
    })();

    const revoked = cluster.tokens("solo", ["revoke", "--name", "app"]);
    expect(revoked.status, revoked.stderr).toBe(0);
    await poll("the revoked token to be refused", async () => ((await get("/v1/docs?prefix=app/", token)).status === 401 ? true : undefined));
    expect(await streamEnded).toBe(true);
    // The other token is untouched.
    expect((await get("/v1/docs", cluster.token)).status).toBe(200);
  }, 240_000);

  it("gives clear errors: unknown scope, duplicate name, unknown name, missing flags", () => {
    const badScope = cluster.tokens("solo", ["add", "--name", "x", "--scopes", "read,fly"]);
    expect(badScope.status).toBe(2);
    expect(badScope.stderr).toContain("unknown: fly");
    const duplicate = cluster.tokens("solo", ["add", "--name", "admin", "--scopes", "read"]);
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain('a token named "admin" exists');
    const unknown = cluster.tokens("solo", ["revoke", "--name", "nobody"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no token named "nobody"');
    const noName = cluster.tokens("solo", ["add", "--scopes", "read"]);
    expect(noName.status).toBe(2);
    expect(noName.stderr).toContain("--name is required");
  });
});
