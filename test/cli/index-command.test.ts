import { execFile } from "node:child_process";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { describe, expect, it } from "vitest";
import { createServer } from "../../src/server/app.ts";
import { hashToken } from "../../src/server/auth.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../../src/concord.mjs", import.meta.url));

describe("concord index", () => {
  it("adds (showing the backfill), lists and drops indexes of a running region", async () => {
    const replica = await memoryReplica({ region: "test" });
    for (let i = 0; i < 30; i++) await replica.create(`d${i}`, "yjs", { init: { meta: { status: i % 2 ? "open" : "done" } } });
    const app = createServer(replica, { tokens: [{ name: "admin", sha256: hashToken("admin-token"), scopes: ["read", "write", "admin"] }] });
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const concord = (...args: string[]) => run(process.execPath, [bin, "index", ...args, "--url", url, "--token", "admin-token"]);
    try {
      const added = await concord("add", "status", "--path", "meta.status", "--type", "string");
      expect(added.stdout).toContain("defined status on meta.status (string, equality)");
      expect(added.stdout).toContain("status is ready");
      await concord("add", "title", "--path", "meta.title", "--type", "string", "--order");
      expect((await concord("list")).stdout).toBe("status\tmeta.status\tstring\tequality\tready\ntitle\tmeta.title\tstring\torder\tready\n");
      expect((await replica.query({ where: [{ path: "meta.status", op: "==", value: "open" }], limit: 100 })).ids).toHaveLength(15);
      expect((await concord("drop", "title")).stdout).toContain("dropped title");
      const refused = await concord("drop", "title").catch((error: { code: number; stderr: string }) => error);
      expect((refused as { code: number }).code).not.toBe(0);
      expect((refused as { stderr: string }).stderr).toContain(`no index "title"`);
      const bad = await concord("add", "x", "--path", "meta.x", "--type", "date").catch((error: { stderr: string }) => error);
      expect((bad as { stderr: string }).stderr).toContain("type must be one of string, number, boolean");
    } finally {
      server.close();
      await replica.close();
    }
  }, 60_000);
});
