/**
 * Admin endpoints (token scope "admin"):
 *   GET /v1/admin/backup  a consistent backup archive of this region, streamed
 *                         while the region keeps serving (see
 *                         src/storage/backup-archive.ts; `concord backup` calls it).
 *
 * A backup holds a store snapshot (on LMDB, a read transaction) for as long
 * as it streams, so the route guards it: HEAD never takes one, at most
 * `maxConcurrent` run at once, and a client that stops reading for
 * `idleTimeoutMs` loses its stream and the snapshot is released.
 */
import { Hono } from "hono";
import { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** A region's backup, ready to stream: the archive's chunks and how many store entries it holds. */
export interface RegionBackup {
  region: string;
  entries: number;
  createdAt: number;
  chunks: AsyncGenerator<Uint8Array>;
  /** Releases the snapshot (idempotent), also when `chunks` was never read. */
  release(): void;
}

export type BackupProvider = () => Promise<RegionBackup>;

export interface AdminOptions {
  backup: BackupProvider | undefined;
  clock: Clock;
  /** Backups streaming at once, at most. Default 2. */
  maxConcurrent?: number;
  /** A stream nobody reads from for this long is cancelled, ms. Default 60000. */
  idleTimeoutMs?: number;
}

export function adminRoutes(options: AdminOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const maxConcurrent = options.maxConcurrent ?? 2;
  let running = 0;
  app.get("/backup", async (c) => {
    authorize(c.get("principal"), "admin");
    const { backup } = options;
    if (!backup) throw new ConcordError("not_found", "this server was started without a backup source");
    const headers = { "content-type": "application/octet-stream", "cache-control": "no-store" };
    // Hono answers HEAD through this handler and drops the body unread: never take a snapshot for it.
    if (c.req.method === "HEAD") return new Response(null, { headers });
    if (running >= maxConcurrent) throw new ConcordError("unavailable", `${running} backups are already running here; try again when one ends`);
    running++;
    let archive: RegionBackup;
    try {
      archive = await backup();
    } catch (error) {
      running--;
      throw error;
    }
    const stamp = new Date(archive.createdAt).toISOString().replace(/[:.]/g, "-");
    const body = streamOf(archive, options.clock, options.idleTimeoutMs ?? 60_000, () => running--);
    return new Response(body, {
      headers: {
        ...headers,
        "content-disposition": `attachment; filename="concord-${archive.region}-${stamp}.ccbackup"`,
        "x-concord-backup-entries": String(archive.entries),
      },
    });
  });
  return app;
}

/**
 * A byte stream pulling from `chunks`, one chunk per pull (highWaterMark 0:
 * nothing is read ahead of the client). Cancelling it, a failure, the end,
 * or `idleMs` without a pull all return the generator and release the
 * snapshot, and call `done` once. A failure mid-stream cuts the body, and
 * the client's checksum check catches the cut.
 */
function streamOf(archive: RegionBackup, clock: Clock, idleMs: number, done: () => void): ReadableStream<Uint8Array> {
  const { chunks } = archive;
  let finished = false;
  let cancelIdle = () => {};
  const finish = async () => {
    cancelIdle();
    if (finished) return;
    finished = true;
    done();
    try {
      await chunks.return(undefined);
    } finally {
      archive.release();
    }
  };
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  const armIdle = () => {
    cancelIdle();
    cancelIdle = clock.timer(idleMs, () => {
      stream.error(new ConcordError("timeout", `the backup stream was not read for ${idleMs} ms`));
      void finish();
    });
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        stream = controller;
        armIdle();
      },
      async pull(controller) {
        cancelIdle();
        try {
          const next = await chunks.next();
          if (next.done) {
            controller.close();
            await finish();
          } else {
            controller.enqueue(next.value);
            armIdle();
          }
        } catch (error) {
          await finish();
          throw error;
        }
      },
      async cancel() {
        await finish();
      },
    },
    { highWaterMark: 0 },
  );
}
