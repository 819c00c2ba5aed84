/**
 * The replica's side of src/query: the definitions held in the system
 * document (read at open and again whenever it changes, locally or from
 * another region), the background builder, and queries planned over the
 * indexes complete here.
 */
import type { JsonOp } from "../doc/json-ops.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import type { Store, StoreWrite } from "../storage/store.ts";
import { IndexBuilder, type IndexBuildStatus } from "../query/index-builder.ts";
import { addDefinitionOps, definitionsFromJson, dropDefinitionOps, indexCatalogId } from "../query/index-catalog.ts";
import { checkDefinition, maxIndexes, type IndexDefinition } from "../query/index-definition.ts";
import type { IndexMaintainer } from "../query/index-maintainer.ts";
import { readReady } from "../query/index-status.ts";
import { planQuery } from "../query/query-plan.ts";
import { runPlan } from "../query/query-run.ts";
import { scanQuery } from "../query/query-scan.ts";
import { checkQuery, type QueryPage } from "../query/query-spec.ts";

export interface ReplicaIndexesDeps {
  store: Store;
  random: Random;
  maintainer: IndexMaintainer;
  /** The JSON view of a document, or undefined when it is not there. */
  readJson(id: string): Promise<unknown>;
  /** Creates the (empty) system document if it is not there. */
  ensureDoc(id: string): Promise<void>;
  patch(id: string, ops: JsonOp[]): Promise<unknown>;
  subscribe(id: string, listener: () => void): () => void;
  docIds(): AsyncIterable<string>;
  reindex(id: string): Promise<void>;
  commit(writes: StoreWrite[]): Promise<void>;
}

/** An index as listed: its definition and whether it serves queries here yet. */
export interface IndexInfo extends IndexDefinition {
  state: "ready" | "building";
}

export class ReplicaIndexes {
  private builder!: IndexBuilder;
  private unsubscribe: (() => void) | undefined;
  private reading: Promise<void> = Promise.resolve();

  private constructor(private readonly deps: ReplicaIndexesDeps) {}

  /** Reads what is complete and what is defined, and starts any backfill the definitions need. */
  static async open(deps: ReplicaIndexesDeps): Promise<ReplicaIndexes> {
    const indexes = new ReplicaIndexes(deps);
    indexes.builder = new IndexBuilder(
      { store: deps.store, docIds: deps.docIds, reindex: deps.reindex, commit: deps.commit },
      deps.maintainer, await readReady(deps.store, deps.maintainer.keys), deps.random,
    );
    await indexes.reload();
    // Every change of the definitions document, from here or another region, is read again (in order).
    indexes.unsubscribe = deps.subscribe(indexCatalogId, () => {
      indexes.reading = indexes.reading.then(() => indexes.reload()).catch(() => undefined);
    });
    return indexes;
  }

  private async reload(): Promise<void> {
    const defs = definitionsFromJson(await this.deps.readJson(indexCatalogId));
    const before = JSON.stringify(this.deps.maintainer.indexes().map((i) => i.def));
    this.deps.maintainer.setDefinitions(defs.slice(0, maxIndexes));
    if (JSON.stringify(defs) !== before || this.builder.status().building.length > 0) void this.builder.refresh();
  }

  /** Adds (or redefines) an index in the replicated definitions. */
  async define(input: unknown): Promise<IndexDefinition> {
    const def = checkDefinition(input);
    const others = this.deps.maintainer.indexes().filter((i) => i.def.name !== def.name);
    if (others.length >= maxIndexes) throw new ConcordError("invalid_argument", `at most ${maxIndexes} indexes`);
    await this.deps.ensureDoc(indexCatalogId);
    await this.deps.patch(indexCatalogId, addDefinitionOps(def));
    await this.settled();
    return def;
  }

  /** Drops an index; false if there was none of that name. */
  async drop(name: string): Promise<boolean> {
    if (!this.deps.maintainer.indexes().some((i) => i.def.name === name)) return false;
    await this.deps.patch(indexCatalogId, dropDefinitionOps(name));
    await this.settled();
    return true;
  }

  list(): IndexInfo[] {
    return this.deps.maintainer.indexes().map((i) => ({ ...i.def, state: this.builder.isReady(i.hex) ? "ready" : "building" }));
  }

  status(): IndexBuildStatus {
    return this.builder.status();
  }

  /** Resolves once the definitions seen so far are read and their backfill is done. */
  async settled(): Promise<void> {
    await this.reading;
    await this.builder.idle();
  }

  async query(input: unknown, options: { idPrefix?: string } = {}): Promise<QueryPage> {
    const query = checkQuery(input);
    let plan;
    try {
      plan = planQuery(this.deps.maintainer.indexes(), query.where, query.orderBy);
    } catch (error) {
      if (!query.scan || !isConcordError(error, "invalid_argument") || error.details.reason !== "index_required") throw error;
      // Asked for explicitly: a bounded, paged scan of the documents.
      return scanQuery({ docIds: this.deps.docIds, readJson: this.deps.readJson, indexes: this.deps.maintainer.indexes() }, query.where, {
        limit: query.limit,
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        ...(options.idPrefix === undefined ? {} : { idPrefix: options.idPrefix }),
        ...(query.orderBy === undefined ? {} : { orderBy: query.orderBy }),
      });
    }
    for (const index of [plan.driver, ...plan.checks.map((c) => c.index)]) {
      if (!this.builder.isReady(index.hex)) {
        const { docsDone } = this.builder.status();
        throw new ConcordError("unavailable", `index "${index.def.name}" is still being built here (${docsDone} documents done)`, {
          details: { reason: "index_building", index: index.def.name },
        });
      }
    }
    return runPlan(this.deps.store, this.deps.maintainer.keys, plan, {
      limit: query.limit,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(options.idPrefix === undefined ? {} : { idPrefix: options.idPrefix }),
    });
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.reading;
    await this.builder.stop();
  }
}
