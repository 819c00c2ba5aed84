/**
 * Production wiring of one region: the replica on its data directory, its
 * X25519 key, peers from the topology, gossip over HTTP, the Hono app, and a
 * listening socket. `stop()` is graceful. The simulator can build the same
 * pieces with its own clock, random, store and transport.
 *
 *   const region = await startRegion({ topology, region: "us-east", dataDir: "data/local/us-east" });
 *   ...
 *   await region.stop();
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { Logger } from "pino";
import { deriveKey } from "../crypto/keyed-hash.ts";
import { ConcordError } from "../errors.ts";
import { createGossip, type FrameRejectionEvent, type Gossip, type GossipOptions } from "../gossip/index.ts";
import type { Topology } from "../gossip/topology.ts";
import { openDataDir } from "../node.ts";
import type { PostgresStoreOptions } from "../storage/postgres-store.ts";
import type { Replica } from "../replica/replica.ts";
import { systemClock } from "../runtime/clock.ts";
import { lockDataDir } from "../runtime/dir-lock.ts";
import { systemRandom } from "../runtime/random.ts";
import { logIdHash } from "./log-paths.ts";
import { createServer, type ConcordApp, type ServerOptions } from "./app.ts";
import { createHttpTransport } from "./http-transport.ts";
import { catchUpMessage, catchUpReason, catchUpWithAPeer, markCaughtUp } from "./catch-up.ts";
import { engineReadiness, watchEnginePanics } from "./engine-health.ts";
import { quarantineAfterTraps } from "../replica/replica.ts";
import { backupProvider, refuseUnfinishedRestore } from "./region-backup.ts";
import { antiEntropyDuty } from "./region-members.ts";
import { joinScaleOut, type ScaleOut } from "./region-scale-out.ts";
import { readRegionKeyFile, regionKeyFile } from "./region-key-file.ts";
import { parseServerLimits } from "./server-limits.ts";
import { requireTokensFile, tokensFile } from "./tokens-file.ts";
import { attachStockSockets, type StockSocketOptions } from "./stock-sockets.ts";
import { createPresenceLink } from "./presence-link.ts";
import { registerSocketRoute, type SocketUpgrades } from "./socket-upgrade.ts";
import { createTokenTable, isTokenTable, type TokenTable } from "./auth.ts";
import { watchTokensFile } from "./tokens-watch.ts";
import { syncSocketRoute, type SyncSocketOptions } from "./sync-socket.ts";
import type { Server } from "node:http";

/** How a region authenticates client requests; open is only ever an explicit choice. */
export type AuthMode = "tokens" | "off";
export const authModes = ["tokens", "off"] as const satisfies readonly AuthMode[];

export interface RegionOptions {
  topology: Topology;
  /** This region's id in the topology. */
  region: string;
  /** Holds store/ (not with `postgres`), keys/master.key, keys/region.key and tokens.json. */
  dataDir: string;
  /** Run on this PostgreSQL store instead of the LMDB store in DIR/store (see src/server/store-url.ts). */
  postgres?: PostgresStoreOptions;
  /** Master key file; default DIR/keys/master.key (or $CONCORD_MASTER_KEY). */
  keyFile?: string;
  /** Interface to listen on. Default: 127.0.0.1 when the region's URL is loopback, else 0.0.0.0. */
  host?: string;
  /** Port to listen on. Default: the port of the region's URL (0 picks a free one). */
  port?: number;
  logger?: Logger;
  gossip?: GossipOptions;
  /** Deadline for one gossip round trip, ms. Default 5000. */
  gossipTimeoutMs?: number;
  /**
   * "tokens" (default): bearer tokens from `server.tokens`, else DIR/tokens.json, which must exist.
   * "off": no authentication, every request has every scope; logged as a warning and shown on the status page.
   */
  auth?: AuthMode;
  /** Passed to createServer (tokens: see `auth`); its limits override the topology's `limits` section. */
  server?: Omit<ServerOptions, "gossip" | "readiness" | "shutdown" | "backup" | "catchingUp">;
  /** How long stop() lets requests in progress finish, ms. Default 5000. */
  drainMs?: number;
  /** Limits of the stock y-websocket / automerge-repo sockets (src/server/stock-sockets.ts). */
  sockets?: Pick<StockSocketOptions, "upgrades" | "yjs" | "automerge">;
  /** Limits and heartbeat of the sync client's socket (src/server/sync-socket.ts). */
  sync?: Pick<SyncSocketOptions, "maxFrameBytes" | "maxDocs" | "maxBufferedBytes" | "pingMs">;
}

export interface RunningRegion {
  id: string;
  /** Where this process listens, e.g. http://127.0.0.1:7101. */
  url: string;
  port: number;
  replica: Replica;
  gossip: Gossip;
  app: ConcordApp;
  /** The stock-protocol sockets (y-websocket, automerge-repo): open count, updateTokens to revoke. */
  sockets: SocketUpgrades;
  /** Stops accepting, drains requests, ends event streams, stops gossip, flushes and closes the store. */
  stop(): Promise<void>;
}

function listenPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}

/**
 * One line per refused gossip frame, with its peer and reason (the HTTP answer alone says only 400): warn,
 * except stale_epoch, which every peer's first request after either side restarts gets (info).
 */
const logRejection = (logger: Logger) => (rejection: FrameRejectionEvent) =>
  logger[rejection.reason === "stale_epoch" ? "info" : "warn"]({ peer: rejection.peer, reason: rejection.reason }, `refused a gossip frame: ${rejection.message}`);

const isLoopback = (url: string) => ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);

/** Starts one region of `topology`. Throws ConcordError for missing keys or an incomplete topology. */
export async function startRegion(options: RegionOptions): Promise<RunningRegion> {
  const { topology, dataDir } = options;
  const self = topology.region(options.region);
  const keyPair = await readRegionKeyFile(regionKeyFile(dataDir));
  if (self.publicKey && Buffer.compare(self.publicKey, keyPair.publicKey) !== 0) {
    throw new ConcordError("wrong_key", `${regionKeyFile(dataDir)} does not match ${self.id}'s public key in topology ${topology.name}`);
  }
  const peers = new Map<string, Uint8Array>();
  const urls = new Map<string, string>();
  for (const r of topology.regions) {
    if (r.id === self.id) continue;
    if (!r.publicKey) throw new ConcordError("invalid_argument", `topology ${topology.name} has no public key for ${r.id}: run "concord keys init --topology FILE"`);
    peers.set(r.id, r.publicKey);
    urls.set(r.id, r.url);
  }

  const topologyLimits = parseServerLimits(topology.limits, `topology ${topology.name}`);
  const authOff = options.auth === "off";
  const given = options.server?.tokens;
  // Tokens from the data directory follow tokens.json while the region runs (`concord tokens`).
  const fromFile = !authOff && given === undefined;
  const tokens: TokenTable | undefined = authOff ? undefined
    : given === undefined ? createTokenTable(await requireTokensFile(tokensFile(dataDir)))
    : isTokenTable(given) ? given : createTokenTable(given);
  // The lock before anything is written: a second process on a live directory stops here.
  const lock = await lockDataDir(dataDir);
  await refuseUnfinishedRestore(dataDir).catch(async (error: unknown) => {
    await lock.release();
    throw error;
  });
  const { replica, store, masterKey, storeCreated } = await openDataDir({
    dir: dataDir, lock, region: self.id,
    ...(options.keyFile ? { keyFile: options.keyFile } : {}),
    ...(options.postgres ? { postgres: options.postgres } : {}),
  });
  let catchingUp = await catchUpReason(dataDir, storeCreated).catch(async (error: unknown) => {
    await replica.close();
    throw error;
  });
  // On PostgreSQL, any number of processes make up the region: this one joins them (its own epoch, heartbeats,
  // the anti-entropy duty, change notices). Its URL is known once it listens.
  let ownUrl = self.url;
  let scaleOut: ScaleOut | undefined;
  if (options.postgres) {
    scaleOut = await joinScaleOut({
      postgres: options.postgres, region: self.id, replica, store, masterKey, url: () => ownUrl,
      ...(options.logger ? { logger: options.logger } : {}),
    }).catch(async (error: unknown) => {
      await replica.close();
      throw error;
    });
  }
  const members = scaleOut?.members;
  const transport = createHttpTransport({ urls, timeoutMs: options.gossipTimeoutMs ?? 5000 });
  // Stable across restarts (operators can follow one document through days of logs), secret like the region key.
  const logKey = deriveKey(keyPair.secretKey, "log-doc-ids");
  const gossip = createGossip({ replica, transport, clock: systemClock, random: systemRandom, self: self.id, keyPair, peers, ...(members ? { epoch: members.epoch } : {}) }, {
    ...(members ? { runsRounds: () => members.holds(antiEntropyDuty), regionEpoch: () => members.regionEpoch(), laneFloor: () => members.laneFloor() } : {}),
    ...(options.logger ? { onFrameRejected: logRejection(options.logger) } : {}),
    onDocRepaired: (id, peer) => options.logger?.warn({ region: self.id, peer, doc: logIdHash(logKey, id) }, "repaired a damaged document from a peer"),
    ...options.gossip,
  });
  const shutdown = new AbortController();
  const unwatchEngine = watchEnginePanics(self.id, options.logger);
  const unwatchQuarantine = replica.onQuarantine((id) => options.logger?.error(
    { region: self.id, doc: logIdHash(logKey, id), traps: quarantineAfterTraps },
    "quarantined a document that trapped the Automerge engine again and again: it is refused (500 quarantined) until released or the region restarts",
  ));
  let closing = false;
  if (catchingUp && peers.size === 0) {
    await markCaughtUp(dataDir); // a lone region has nobody to catch up with
    catchingUp = undefined;
  }
  const { tokens: _ignored, ...serverOptions } = options.server ?? {};
  const app = createServer(replica, {
    ...topologyLimits,
    ...serverOptions,
    ...(tokens ? { tokens } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    logKey,
    gossip: { handle: (frame) => transport.handle(frame), refused: (rejection) => gossip.refused(rejection), screen: (prefix) => gossip.screen(prefix) },
    backup: backupProvider({ store, masterKey, region: self.id, regionSecretKey: keyPair.secretKey, clock: systemClock, random: systemRandom }),
    shutdown: shutdown.signal,
    catchingUp: () => catchingUp !== undefined,
    members: () => members,
    readiness: () =>
      closing ? { ready: false, reason: "shutting down" }
      : engineReadiness()
      ?? (catchingUp ? { ready: false, reason: catchUpMessage(catchingUp) } : { ready: true }),
  });

  let server: ServerType;
  let port: number;
  try {
    await gossip.start();
    await scaleOut?.connect(gossip);
    ({ server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: options.port ?? listenPort(self.url), hostname: options.host ?? (isLoopback(self.url) ? "127.0.0.1" : "0.0.0.0") }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
      s.once("error", (cause) => reject(new ConcordError("unavailable", `region ${self.id} cannot listen: ${(cause as Error).message}`, { cause })));
    }));
  } catch (error) {
    gossip.stop();
    unwatchEngine();
    unwatchQuarantine();
    await scaleOut?.stop().catch(() => undefined);
    await replica.close();
    throw error;
  }
  const presence = peers.size > 0 ? createPresenceLink({ self: self.id, keyPair, peers, urls, clock: systemClock, random: systemRandom }) : undefined;
  const sockets = attachStockSockets(server as Server, {
    replica, clock: systemClock, tokens, registry: app.metrics.registry, ...(presence ? { presence } : {}), ...options.sockets,
    region: self.id, askPeers: async () => void (await Promise.allSettled([...peers.keys()].map((peer) => gossip.antiEntropy(peer)))),
  });
  registerSocketRoute(server as Server, syncSocketRoute({ ...options.sync, replica, tokens, logger: options.logger, clock: systemClock }));
  const stopWatchingTokens = fromFile && tokens ? watchTokensFile({ file: tokensFile(dataDir), table: tokens, clock: systemClock, logger: options.logger }) : () => undefined;
  ownUrl = `http://${options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1"}:${port}`;
  options.logger?.info({ region: self.id, port, peers: [...peers.keys()], ...(members ? { epoch: members.epoch, processes: members.status().members.length } : {}) }, "region started");
  if (authOff) options.logger?.warn({ region: self.id, auth: "off" }, "authentication is off (--auth off): every client request has every scope; never run this way outside development");
  if (catchingUp) {
    const reason = catchingUp;
    void catchUpWithAPeer({ peers: [...peers.keys()], round: (peer) => gossip.antiEntropy(peer), clock: systemClock, signal: shutdown.signal })
      .then(async (done) => {
        if (!done) return;
        await markCaughtUp(dataDir);
        catchingUp = undefined;
        options.logger?.info({ region: self.id, was: reason }, "caught up with a peer: ready");
      })
      .catch((error: unknown) => options.logger?.error({ err: error }, "catching up with a peer failed"));
  }

  let stopping: Promise<void> | undefined;
  return {
    id: self.id,
    url: `http://${options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1"}:${port}`,
    port,
    replica,
    gossip,
    app,
    sockets,
    stop() {
      stopping ??= (async () => {
        closing = true;
        stopWatchingTokens();
        shutdown.abort(); // ends event streams, so the server can drain
        sockets.closeAll(); // 1012: stock clients reconnect (here after a restart, or to another region)
        presence?.close();
        await new Promise<void>((resolve) => {
          const force = systemClock.timer(options.drainMs ?? 5000, () => (server as { closeAllConnections?: () => void }).closeAllConnections?.());
          server.close(() => {
            force();
            resolve();
          });
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        gossip.stop();
        unwatchEngine();
        unwatchQuarantine();
        await scaleOut?.stop().catch((error: unknown) => options.logger?.warn({ err: error }, "leaving the region's membership failed"));
        await replica.close();
        options.logger?.info({ region: self.id }, "region stopped");
      })();
      return stopping;
    },
  };
}
