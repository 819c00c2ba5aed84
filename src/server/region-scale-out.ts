/**
 * What a process of a region of several (PostgreSQL, `concord serve --store
 * postgres://…` on any number of machines) adds to a region of one: its
 * membership (epoch, heartbeats, the anti-entropy duty lease:
 * region-members.ts) and the change notices that make each process see the
 * others' writes (region-fanout.ts over postgres-notify.ts). A region on
 * LMDB has none of this and runs exactly as before.
 *
 * Two steps, because gossip sits between them: join() before gossip is made
 * (gossip sends in the lane of the epoch drawn here), connect() after (the
 * fanout keeps gossip's digest tree in step with the store).
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { openKeyring } from "../crypto/keyring.ts";
import type { Gossip } from "../gossip/gossip.ts";
import type { Replica } from "../replica/replica.ts";
import { systemClock } from "../runtime/clock.ts";
import { systemRandom } from "../runtime/random.ts";
import { openPostgresMembership } from "../storage/postgres-membership.ts";
import { openPostgresNotify, type PostgresNotify } from "../storage/postgres-notify.ts";
import type { PostgresStoreOptions } from "../storage/postgres-store.ts";
import type { Store } from "../storage/store.ts";
import { createRegionFanout, type RegionFanout } from "./region-fanout.ts";
import { antiEntropyDuty, joinRegionMembers, type RegionMembers } from "./region-members.ts";

export interface ScaleOutOptions {
  postgres: PostgresStoreOptions;
  region: string;
  replica: Replica;
  store: Store;
  masterKey: Uint8Array;
  /** This process's own URL, once it listens. */
  url: () => string;
  logger?: Logger;
  heartbeatMs?: number;
  deadAfterMs?: number;
}

export interface ScaleOut {
  members: RegionMembers;
  /** Starts the change notices; call once gossip exists. */
  connect(gossip: Gossip): Promise<void>;
  readonly fanout: RegionFanout | undefined;
  /** Stops notices and heartbeats, and leaves (survivors take the duties at once). */
  stop(): Promise<void>;
}

export async function joinScaleOut(options: ScaleOutOptions): Promise<ScaleOut> {
  const { postgres, logger, replica } = options;
  const schema = postgres.schema ?? "concord";
  const membership = await openPostgresMembership({ url: postgres.url, schema, ...(postgres.applicationName ? { applicationName: postgres.applicationName } : {}) });
  const members = await joinRegionMembers({
    store: membership, clock: systemClock, name: `${hostname()}:${process.pid}`, url: options.url,
    atLeast: replica.epoch, duties: [antiEntropyDuty],
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}), ...(options.deadAfterMs ? { deadAfterMs: options.deadAfterMs } : {}),
    onError: (error) => logger?.warn({ err: error, region: options.region }, "a membership heartbeat failed (the duty lease lapses if this goes on)"),
    onDuty: (duty, held, token) => logger?.info({ region: options.region, duty, token }, held ? "took a region duty" : "lost a region duty"),
  }).catch(async (error: unknown) => {
    await membership.close();
    throw error;
  });
  let notify: PostgresNotify | undefined;
  let fanout: RegionFanout | undefined;
  return {
    members,
    get fanout() {
      return fanout;
    },
    async connect(gossip) {
      const keyring = await openKeyring(options.store, options.masterKey, systemRandom);
      const notices = { publish: (hashes: readonly Uint8Array[]) => notify ? notify.publish(hashes) : Promise.resolve() };
      const onError = (error: unknown) => logger?.warn({ err: error, region: options.region }, "a change notice failed (the document is repaired by its next write or the next resync)");
      fanout = createRegionFanout({ replica, gossip, store: options.store, docHash: (id) => keyring.docHash(id), regionKey: keyring.regionKey, notices, onError });
      const live = fanout;
      notify = await openPostgresNotify({
        url: postgres.url, schema, self: members.epoch, clock: systemClock, random: systemRandom, ...(postgres.applicationName ? { applicationName: postgres.applicationName } : {}),
        onChange: (hashes) => void live.noticed(hashes),
        onReconnect: () => {
          logger?.info({ region: options.region }, "change notices reconnected: re-reading the version records");
          void live.resync().catch(onError);
        },
        onError: (error) => logger?.warn({ err: error, region: options.region }, "lost the change notice connection to PostgreSQL; reconnecting"),
      });
    },
    async stop() {
      fanout?.stop();
      await notify?.close();
      await members.stop();
    },
  };
}
