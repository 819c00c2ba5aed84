/**
 * Background work after the definitions change: a new index is backfilled
 * over every document (one document at a time, under its gate, each in its
 * own small atomic write ordered with the document's appends), and the
 * entries of a dropped index are purged in bounded batches. Progress is
 * observable (status()); an index serves queries only once complete here.
 * A run restarts from the top when the definitions change again, and after
 * a restart of the process: re-indexing a document is idempotent.
 */
import { isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { fromHex } from "../storage/bytes.ts";
import type { Store, StoreWrite } from "../storage/store.ts";
import { indexPrefix } from "./index-layout.ts";
import type { IndexMaintainer } from "./index-maintainer.ts";
import { readyRecord } from "./index-status.ts";

export interface IndexBuilderHost {
  store: Store;
  /** Every live document's id. */
  docIds(): AsyncIterable<string>;
  /** Rewrites the document's entries for every index, under its gate (IndexMaintainer.changes with force). */
  reindex(id: string): Promise<void>;
  /** An atomic write ordered after every document write queued before it. */
  commit(writes: StoreWrite[]): Promise<void>;
}

export interface IndexBuildStatus {
  /** Names of indexes that serve queries. */
  ready: string[];
  /** Names of indexes being backfilled. */
  building: string[];
  /** Documents re-indexed by the current backfill. */
  docsDone: number;
  /** Index ids (hex) whose entries are being purged. */
  purging: number;
  /** The last run's failure, if it failed (the next definitions change retries). */
  error?: string;
}

/** Documents re-indexed at once by a backfill (bounds its memory: each is loaded into the cache). */
const backfillConcurrency = 64;

/** Deletes per purge write. */
const purgeBatch = 256;

export class IndexBuilder {
  private generation = 0;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private docsDone = 0;
  private purging = 0;
  private error: string | undefined;

  constructor(
    private readonly host: IndexBuilderHost,
    private readonly maintainer: IndexMaintainer,
    private readonly ready: Set<string>,
    private readonly random: Random,
  ) {}

  /** Whether the index (hex id) is complete here. */
  isReady(hex: string): boolean {
    return this.ready.has(hex);
  }

  status(): IndexBuildStatus {
    const names = (ready: boolean) => this.maintainer.indexes().filter((i) => this.ready.has(i.hex) === ready).map((i) => i.def.name);
    return { ready: names(true), building: names(false), docsDone: this.docsDone, purging: this.purging, ...(this.error ? { error: this.error } : {}) };
  }

  /** Starts a run for the current definitions (after the one in progress stops). */
  refresh(): Promise<void> {
    const generation = ++this.generation;
    this.running = this.running.then(() => this.run(generation)).catch((error: unknown) => {
      this.error = error instanceof Error ? error.message : String(error);
    });
    return this.running;
  }

  /** Resolves when the current run is over. */
  idle(): Promise<void> {
    return this.running;
  }

  /** Stops at the next document and waits. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private live(generation: number) {
    return !this.stopped && generation === this.generation;
  }

  private async run(generation: number): Promise<void> {
    if (!this.live(generation)) return;
    this.error = undefined;
    const current = this.maintainer.indexes();
    const building = current.filter((i) => !this.ready.has(i.hex));
    const dropped = [...this.ready].filter((hex) => !current.some((i) => i.hex === hex));
    if (building.length === 0 && dropped.length === 0) return;
    this.docsDone = 0;
    if (building.length > 0) {
      // Documents are re-indexed `backfillConcurrency` at a time: their small writes share one group commit.
      let batch: string[] = [];
      const flush = async () => {
        await Promise.all(batch.map((id) => this.reindexOne(id)));
        this.docsDone += batch.length;
        batch = [];
      };
      for await (const id of this.host.docIds()) {
        if (!this.live(generation)) return;
        if (!this.maintainer.indexable(id)) continue;
        batch.push(id);
        if (batch.length === backfillConcurrency) await flush();
      }
      await flush();
      if (!this.live(generation)) return;
      for (const index of building) this.ready.add(index.hex);
    }
    this.purging = dropped.length;
    for (const hex of dropped) {
      if (!this.live(generation)) return;
      await this.purge(hex);
      this.ready.delete(hex);
      this.purging--;
    }
    await this.host.commit([readyRecord(this.maintainer.keys, this.ready, this.random)]);
  }

  private async reindexOne(id: string): Promise<void> {
    try {
      await this.host.reindex(id);
    } catch (error) {
      // Gone or damaged meanwhile: its delete removed its entries; a repair's rewrite indexes it.
      const skipped = ["not_found", "deleted", "corrupt_record", "quarantined"] as const;
      if (!skipped.some((code) => isConcordError(error, code))) throw error;
    }
  }

  /** Deletes every entry of the index `hex` (equality or order), in bounded writes. */
  private async purge(hex: string): Promise<void> {
    for (const kind of [indexPrefix.equality, indexPrefix.order]) {
      const prefix = new Uint8Array([kind, ...fromHex(hex)]);
      for (;;) {
        const batch: StoreWrite[] = [];
        for await (const [key] of this.host.store.scan(prefix)) {
          batch.push({ key });
          if (batch.length === purgeBatch) break;
        }
        if (batch.length === 0) break;
        await this.host.commit(batch);
      }
    }
  }
}
