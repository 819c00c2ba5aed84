/**
 * Cross-process change notices for a region of several processes, through
 * PostgreSQL LISTEN/NOTIFY: after a process's store write commits, it
 * publishes the changed documents' keyed hashes (their storage keys, never
 * their ids) on the region's channel; every other process hears them within
 * milliseconds, drops its cached copies and pushes the change to its own
 * subscribers (src/server/region-fanout.ts).
 *
 * Why NOTIFY and not NATS: the region already depends on PostgreSQL, so there
 * is no second service to deploy, secure and keep alive, and a NOTIFY sent in
 * a transaction is delivered only if and when it commits. (These notices are
 * sent right after the write's own commit, on another connection, since the
 * store's writer is not ours to change: a process that dies between the two
 * loses the notice, and the others catch up on their next reconnect scan or
 * when the document is next written. Moving the pg_notify into the writer's
 * transaction closes that gap.) NOTIFY payloads are at most 8000 bytes:
 * hashes go out in batches that fit.
 *
 * Payload: the publishing process's epoch, ":", then hex hashes joined by
 * ",". A process ignores its own notices.
 *
 * The listening connection is dedicated (LISTEN holds it). When it is lost,
 * it reconnects with backoff and then calls onReconnect: notices sent
 * meanwhile were lost, so the caller treats whatever it caches as stale.
 */
import pg from "pg";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import { toHex } from "./bytes.ts";
import { redactUrl, unavailable } from "./postgres-errors.ts";
import { checkIdentifier } from "./postgres-sql.ts";

export interface PostgresNotifyOptions {
  url: string;
  /** The region's schema; the channel is named after it. */
  schema: string;
  /** This process's epoch: its own notices are skipped. */
  self: number;
  applicationName?: string;
  /** Hex keyed hashes of documents another process of the region changed. */
  onChange: (docHashes: string[]) => void;
  /** The listening connection came back after a loss: notices may have been missed. */
  onReconnect: () => void;
  /** Hears of a lost listening connection (the region logs it). */
  onError?: (error: unknown) => void;
  /** For the reconnect backoff and its jitter. */
  clock: Clock;
  random: Random;
}

export interface PostgresNotify {
  /** Publishes that these documents changed; resolves once PostgreSQL took the notices. */
  publish(docHashes: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

const maxPayloadBytes = 7900;
const reconnectMinMs = 100;
const reconnectMaxMs = 5000;

/** The channel of `schema`'s region. */
export function notifyChannel(schema: string): string {
  return `${checkIdentifier(schema, "schema")}_changes`.slice(0, 63);
}

export async function openPostgresNotify(options: PostgresNotifyOptions): Promise<PostgresNotify> {
  const channel = notifyChannel(options.schema);
  const what = `the change channel ${channel} at ${redactUrl(options.url)}`;
  const prefix = `${options.self}:`;
  const publisher = new pg.Pool({ connectionString: options.url, application_name: options.applicationName ?? "concord", max: 2, keepAlive: true });
  publisher.on("error", () => undefined);
  let closed = false;
  let listener: pg.Client | undefined;
  let cancelRetry: (() => void) | undefined;
  let backoff = reconnectMinMs;

  const onNotification = (message: pg.Notification) => {
    const payload = message.payload ?? "";
    if (message.channel !== channel || payload.startsWith(prefix)) return;
    const hashes = payload.slice(payload.indexOf(":") + 1).split(",").filter((h) => /^[0-9a-f]+$/.test(h));
    if (hashes.length > 0) options.onChange(hashes);
  };

  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: options.url, application_name: options.applicationName ?? "concord", keepAlive: true });
    const lost = (error?: unknown) => {
      if (listener !== client) return;
      listener = undefined;
      client.removeAllListeners("notification");
      void client.end().catch(() => undefined);
      if (closed) return;
      options.onError?.(error ?? new Error("the listening connection ended"));
      scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", onNotification);
    listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      lost(error);
      throw unavailable("listening on", what, error);
    }
    backoff = reconnectMinMs;
  };

  const scheduleReconnect = () => {
    if (closed || cancelRetry) return;
    const wait = backoff / 2 + options.random.float() * (backoff / 2);
    backoff = Math.min(backoff * 2, reconnectMaxMs);
    cancelRetry = options.clock.timer(wait, () => {
      cancelRetry = undefined;
      if (closed) return;
      connect().then(() => options.onReconnect(), () => undefined); // connect() already scheduled the next try
    });
  };

  await connect().catch(async (error: unknown) => {
    closed = true;
    cancelRetry?.();
    await publisher.end();
    throw error;
  });

  return {
    async publish(docHashes) {
      if (docHashes.length === 0) return;
      const batches: string[] = [];
      let batch = prefix;
      for (const hash of docHashes) {
        const hex = toHex(hash);
        if (batch.length + hex.length + 1 > maxPayloadBytes) {
          batches.push(batch);
          batch = prefix;
        }
        batch += batch === prefix ? hex : `,${hex}`;
      }
      batches.push(batch);
      try {
        for (const payload of batches) await publisher.query("SELECT pg_notify($1, $2)", [channel, payload]);
      } catch (error) {
        throw unavailable("publishing on", what, error);
      }
    },
    async close() {
      closed = true;
      cancelRetry?.();
      const client = listener;
      listener = undefined;
      await client?.end().catch(() => undefined);
      await publisher.end();
    },
  };
}
