/**
 * A TCP proxy in front of a region that can go silent: after `stall()` it
 * keeps every connection open but forwards nothing either way, which is what
 * a peer that vanished without FIN (power loss, a NAT that forgot the flow)
 * looks like from both ends.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface StallProxy {
  /** http://127.0.0.1:PORT, to use as a region URL. */
  url: string;
  /** Stops forwarding on every connection, open or future; nothing is closed. */
  stall(): void;
  close(): Promise<void>;
}

export async function startStallProxy(target: string): Promise<StallProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let stalled = false;
  const forward = (from: Socket, to: Socket) => from.on("data", (chunk) => {
    if (!stalled) to.write(chunk);
  });
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    forward(client, upstream);
    forward(upstream, client);
    // A close passes through only while live: a vanished peer sends no FIN.
    client.on("end", () => !stalled && upstream.end());
    upstream.on("end", () => !stalled && client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    stall: () => void (stalled = true),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
