/**
 * Admin endpoints (token scope "admin"):
 *   GET /v1/admin/backup  a consistent backup archive of this region, streamed
 *                         while the region keeps serving (see
 *                         src/storage/backup-archive.ts; `concord backup` calls it).
 */
import { Hono } from "hono";
import { ConcordError } from "../errors.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** A region's backup, ready to stream: the archive's chunks and how many store entries it holds. */
export interface RegionBackup {
  region: string;
  entries: number;
  createdAt: number;
  chunks: AsyncGenerator<Uint8Array>;
}

export type BackupProvider = () => Promise<RegionBackup>;

export function adminRoutes(backup: BackupProvider | undefined): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/backup", async (c) => {
    authorize(c.get("principal"), "admin");
    if (!backup) throw new ConcordError("not_found", "this server was started without a backup source");
    const archive = await backup();
    const stamp = new Date(archive.createdAt).toISOString().replace(/[:.]/g, "-");
    return new Response(streamOf(archive.chunks), {
      headers: {
        "content-type": "application/octet-stream",
        "content-disposition": `attachment; filename="concord-${archive.region}-${stamp}.ccbackup"`,
        "x-concord-backup-entries": String(archive.entries),
        "cache-control": "no-store",
      },
    });
  });
  return app;
}

/**
 * A byte stream pulling from `chunks`. A client that goes away cancels it,
 * which returns the generator and so releases the snapshot; a failure
 * mid-stream errors it, and the client's checksum check catches the cut.
 */
function streamOf(chunks: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}
