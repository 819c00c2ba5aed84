/** Helpers for sync client tests: client replicas on memory disks (reopened to play a reload) and waiting on events. */
import { WebSocket } from "ws";
import { connect, type ConnectOptions, type SyncClient } from "../../src/client/index.ts";
import type { SyncEventName, SyncEvents } from "../../src/client/events.ts";
import type { WebSocketConstructor } from "../../src/client/socket.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import { testKey } from "../helpers/replicas.ts";
import { poll } from "../server/processes.ts";

/** An app's device: a disk that outlives the replica (and the client) opened on it. */
export interface Device {
  disk: MemoryDisk;
  replica: Replica;
  /** Closes the replica and opens it again on the same disk: what a page reload does. */
  reload(): Promise<Replica>;
}

export async function openDevice(seed: number): Promise<Device> {
  const disk = createMemoryDisk();
  const open = () => openReplica({ store: disk.open(), masterKey: testKey(100 + seed), region: `device-${seed}` });
  const device: Device = {
    disk,
    replica: await open(),
    async reload() {
      await device.replica.close();
      device.replica = await open();
      return device.replica;
    },
  };
  return device;
}

/** connect() with the `ws` package's WebSocket (Node 20 has no global one) and quick retries for tests. */
export function connectNode(replica: Replica, options: Omit<ConnectOptions, "WebSocket">): Promise<SyncClient> {
  return connect(replica, { backoff: { initialMs: 50, maxMs: 1000 }, ...options, WebSocket: WebSocket as unknown as WebSocketConstructor });
}

/** The next `event` (matching `test`) from `sync`. */
export function nextEvent<E extends SyncEventName>(sync: SyncClient, event: E, test: (e: SyncEvents[E]) => boolean = () => true): Promise<SyncEvents[E]> {
  return new Promise((resolve) => {
    const off = sync.on(event, (e) => {
      if (!test(e)) return;
      off();
      resolve(e);
    });
  });
}

/** Waits until `replica` holds `id` with a value `test` accepts. */
export function valueUntil(replica: Replica, id: string, test: (value: unknown) => boolean): Promise<unknown> {
  return poll(`${id} to reach the expected value`, async () => {
    const view = await replica.read(id).catch(() => undefined);
    return view !== undefined && test(view.value) ? view.value : undefined;
  });
}

/** Waits until a region's HTTP API shows `id` with a value `test` accepts. */
export function regionValueUntil(url: string, token: string, id: string, test: (value: unknown) => boolean): Promise<unknown> {
  return poll(`${id} at ${url}`, async () => {
    const r = await fetch(`${url}/v1/docs/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
    if (!r.ok) return undefined;
    const value = ((await r.json()) as { value: unknown }).value;
    return test(value) ? value : undefined;
  });
}
