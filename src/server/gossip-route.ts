/**
 * POST /internal/gossip: one sealed frame in, one sealed frame out. No token:
 * a frame is authenticated by the key its sender shares with this region, so
 * anything forged, replayed or tampered is rejected (and counted) by gossip.
 */
import { Hono } from "hono";
import type { FrameRejectionEvent } from "../gossip/frame-refusal.ts";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./http-errors.ts";
import { ConcordError } from "../errors.ts";

/** What receives frames: Gossip.handle (an empty answer means "rejected"). */
export interface FrameHandler {
  handle(frame: Uint8Array): Promise<Uint8Array>;
  /** Told of a frame this route refused before handle() saw it (Gossip.refused counts it). */
  refused?(rejection: FrameRejectionEvent): void;
}

export const gossipPath = "/internal/gossip";

export function gossipRoute(handler: FrameHandler): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post("/gossip", async (c) => {
    const frame = new Uint8Array(await c.req.arrayBuffer());
    const reply = await handler.handle(frame);
    if (reply.length === 0) return errorResponse(c, new ConcordError("bad_frame", "frame rejected"));
    c.header("Content-Type", "application/octet-stream");
    return c.body(reply as Uint8Array<ArrayBuffer>);
  });
  return app;
}
