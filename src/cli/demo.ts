/**
 * `concord demo`: the embedded replica in thirty seconds. Writes a Yjs and an
 * Automerge document, closes the store, reopens it, prints what it reads
 * back, and checks that no document id or content is readable on disk.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type * as Y from "yjs";
import { isConcordError } from "../errors.ts";
import { openReplica } from "../node.ts";
import { createKeyFile, defaultKeyFile } from "../runtime/master-key.ts";
import type { Replica } from "../replica/replica.ts";
import type { Command } from "./command.ts";
import { defineCommand } from "./command.ts";

const help = `Usage: concord demo [--data DIR]

Writes a Yjs note and an Automerge task list into an embedded replica (LMDB),
reopens it and prints what it reads back. Run it again and the documents grow:
every run's writes survive. A key is created in DIR/keys on the first run.

Options:
  --data DIR   data directory (default data/demo)
  -h, --help   this help
`;

export const demoCommand: Command = defineCommand({
  name: "demo",
  summary: "write, reopen and read back documents on the embedded store",
  help,
  flags: { data: { type: "string" } },
  async run(values) {
    const dir = values.data ?? join("data", "demo");
    await createKeyFile(defaultKeyFile(dir)).catch((error) => {
      if (!isConcordError(error, "exists")) throw error;
    });
    const stamp = new Date().toISOString();
    const marker = `run at ${stamp}`;

    let replica = await openReplica({ dir, region: "demo" });
    await ensure(replica, "demo/note", "yjs");
    await ensure(replica, "demo/tasks", "automerge", { tasks: [] });
    const note = await replica.change("demo/note", (doc: Y.Doc) => {
      const text = doc.getText("body");
      text.insert(text.length, `${marker}\n`);
      doc.getMap("meta").set("lastRun", stamp);
    });
    await replica.change("demo/tasks", (doc: { tasks: Array<{ title: string; done: boolean }> }) => {
      doc.tasks.push({ title: marker, done: false });
    });
    process.stdout.write(`wrote to demo/note and demo/tasks (durable; version ${note.version.slice(0, 16)}…)\n`);
    await replica.close();

    replica = await openReplica({ dir, region: "demo" });
    process.stdout.write(`reopened ${dir}; it holds:\n`);
    for await (const id of replica.list()) {
      const doc = await replica.read(id);
      process.stdout.write(`\n${id} (${doc.kind})\n${JSON.stringify(doc.value, null, 2)}\n`);
    }
    await replica.close();

    const leaks = await findPlaintext(dir, ["demo/note", "demo/tasks", stamp]);
    process.stdout.write(
      leaks.length === 0
        ? `\nat rest: no file under ${dir} contains a document id or any content\n`
        : `\nWARNING: plaintext found at rest in ${leaks.join(", ")}\n`,
    );
    return leaks.length === 0 ? 0 : 1;
  },
});

async function ensure(replica: Replica, id: string, kind: "yjs" | "automerge", init?: Record<string, unknown>): Promise<void> {
  await replica.create(id, kind, init ? { init } : {}).catch((error) => {
    if (!isConcordError(error, "exists")) throw error;
  });
}

async function findPlaintext(dir: string, needles: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path);
    if (needles.some((n) => bytes.includes(Buffer.from(n)))) found.push(path);
  }
  return found;
}
