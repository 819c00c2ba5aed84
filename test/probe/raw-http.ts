/** Raw HTTP requests for the abuse probes: bodies held open, trickled or streamed until the server answers. */
import { request, type ClientRequest } from "node:http";

export interface HeldRequest {
  req: ClientRequest;
  /** Resolves with the status when the server answers (or 0 when the socket closes without an answer). */
  answered: Promise<number>;
  /** Whether an answer arrived so far. */
  status(): number | undefined;
}

/** Starts a request declaring `declared` body bytes, sends `first`, and holds the rest back until destroy(). */
export function holdBody(url: string, path: string, declared: number | "chunked", first: Uint8Array, headers: Record<string, string> = {}, method = "POST"): HeldRequest {
  const u = new URL(url);
  const req = request({
    host: u.hostname, port: u.port, path, method, agent: false,
    headers: { "content-type": "application/octet-stream", ...(declared === "chunked" ? { "transfer-encoding": "chunked" } : { "content-length": String(declared) }), ...headers },
  });
  let status: number | undefined;
  const answered = new Promise<number>((resolve) => {
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      res.resume();
      resolve(status);
    });
    req.on("error", () => resolve(status ?? 0));
    req.on("close", () => resolve(status ?? 0));
  });
  req.write(first);
  return { req, answered, status: () => status };
}

/** Streams `first`, then `chunk` repeatedly, as one chunked body until the server answers or `maxBytes` went; returns the status and bytes sent. */
export async function streamUntilAnswered(url: string, path: string, first: Uint8Array, chunk: Uint8Array, maxBytes: number): Promise<{ status: number; sent: number }> {
  const held = holdBody(url, path, "chunked", first);
  let sent = first.length;
  while (held.status() === undefined && sent < maxBytes && !held.req.destroyed) {
    if (!held.req.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          held.req.off("drain", done).off("close", done);
          resolve();
        };
        held.req.on("drain", done).on("close", done);
      });
    }
    sent += chunk.length;
  }
  if (held.status() === undefined && !held.req.destroyed) held.req.end();
  const status = await held.answered;
  held.req.destroy();
  return { status, sent };
}
