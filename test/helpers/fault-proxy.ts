/**
 * A TCP proxy that injects network faults between two real servers:
 *   pass    forward bytes both ways
 *   delay   forward each chunk after `delayMs`
 *   drop    a black hole: connections stay open, bytes vanish (peers time out)
 *   sever   reset every connection and refuse new ones (peers fail fast)
 * Mode changes apply to connections already open, so keep-alive pools of
 * the HTTP client cannot route around a cut.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type FaultMode = { mode: "pass" } | { mode: "delay"; delayMs: number } | { mode: "drop" } | { mode: "sever" };

export interface FaultProxy {
  /** Where to send traffic: http://127.0.0.1:PORT. */
  url: string;
  port: number;
  set(mode: FaultMode): void;
  /** Bytes forwarded and dropped so far, both directions, and connections refused while severed. */
  stats(): { forwarded: number; dropped: number; refused: number };
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, listenPort = 0): Promise<FaultProxy> {
  let current: FaultMode = { mode: "pass" };
  const sockets = new Set<Socket>();
  let forwarded = 0;
  let dropped = 0;
  let refused = 0;

  const relay = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      const mode = current;
      if (mode.mode === "pass") {
        forwarded += chunk.length;
        to.write(chunk);
      } else if (mode.mode === "delay") {
        forwarded += chunk.length;
        setTimeout(() => to.writable && to.write(chunk), mode.delayMs);
      } else {
        dropped += chunk.length;
      }
    });
    from.on("end", () => to.end());
    from.on("error", () => to.destroy());
    from.on("close", () => {
      to.destroy();
      sockets.delete(from);
    });
  };

  const server: Server = createServer((client) => {
    if (current.mode === "sever") {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    relay(client, upstream);
    relay(upstream, client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    set(mode) {
      current = mode;
      if (mode.mode === "sever") for (const socket of sockets) socket.resetAndDestroy();
    },
    stats: () => ({ forwarded, dropped, refused }),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
