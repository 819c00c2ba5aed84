/**
 * Anti-entropy: find what two regions hold differently and exchange only that.
 *
 * The initiator sends its digest of the root; the responder answers "equal"
 * (one small round trip, whatever the number of documents), or its children,
 * or — once few documents remain below a node — the (id, element hash) pairs
 * themselves. The initiator descends only into differing children, so d
 * differing documents out of n cost O(d · log n) digest bytes. Then, for each
 * differing document, both sides exchange versions and engine diffs, in both
 * directions, deletions included.
 *
 * When both regions run rounds with each other at once, each document's
 * content crosses once, not once per round (see sent-states.ts).
 *
 * A document that fails here (see doc-failure.ts) is skipped and counted, on
 * either side, so one bad document cannot abort every round and leave all the
 * others unrepaired. A damaged one (its records fail their checks:
 * "corrupt_record", found by a read or by the bounded scrub each round makes)
 * is repaired when this side starts the round: its tree
 * entry is made to differ from every peer's, it is asked about as absent, so
 * the peer answers with its whole state, and that state replaces the damaged
 * records (Replica.repair). As the responder, a damaged document is skipped:
 * a delta pushed to it may be partial, and a repair takes a whole state only.
 */
import { isConcordError } from "../errors.ts";
import { bytesEqual } from "../storage/bytes.ts";
import type { Replica } from "../replica/replica.ts";
import { unknownVersionHash } from "../replica/version-token.ts";
import type { DigestTree, NodeDigest } from "./digest-tree.ts";
import { isDocFailure } from "./doc-failure.ts";
import type { DocState, PushEntry, Request, Response, TreeAnswer } from "./messages.ts";

/** Below this many documents on either side, a node is answered with its entries. */
export const leafEntries = 16;
/** At most this many nodes or documents per request. */
const maxPerRequest = 256;
/** Documents whose stored records each round checks (Replica.scrub), so damage nobody reads is found too. */
export const scrubDocsPerRound = 64;

const sameDigest = (a: NodeDigest, b: NodeDigest) => a.count === b.count && bytesEqual(a.hash, b.hash);

export function answerTree(tree: DigestTree, nodes: Array<{ path: string } & NodeDigest>): TreeAnswer[] {
  return nodes.map(({ path, hash, count }): TreeAnswer => {
    const mine = tree.node(path);
    if (sameDigest(mine, { hash, count })) return { path, answer: "equal" };
    if (path.length >= tree.depth || Math.max(mine.count, count) <= leafEntries) {
      return { path, answer: "entries", entries: tree.entries(path) };
    }
    return { path, answer: "children", children: tree.children(path) };
  });
}

/**
 * The responder's half of a sync: deletions win, then each side gets the
 * other's diff (a whole state where the kinds differ). A document that fails
 * here is left out of the answer and reported to `skipped`.
 */
export async function answerSync(
  replica: Replica, docs: Array<{ id: string } & DocState>, skipped: (id: string) => void = () => {},
  /** True when our own round's push already carries what the peer lacks of `id`: answered without a diff. */
  pushed: (id: string, theirs: DocState, ours: Uint8Array) => boolean = () => false,
) {
  const out: Array<{ id: string; diff?: Uint8Array } & DocState> = [];
  const answer = async (theirs: { id: string } & DocState): Promise<{ id: string; diff?: Uint8Array } & DocState> => {
    const id = theirs.id;
    if (theirs.state === "deleted") {
      await replica.deleteRemote(id);
      return { id, state: "deleted" };
    }
    const mine = await replica.status(id);
    if (mine.state !== "present") return { id, state: mine.state };
    if (pushed(id, theirs, mine.version)) return { id, ...mine };
    const diff = theirs.state === "present" && theirs.kind === mine.kind
      ? await replica.diff(id, theirs.version)
      : await replica.encodeState(id);
    return { id, ...mine, diff };
  };
  for (const theirs of docs) {
    try {
      out.push(await answer(theirs));
    } catch (error) {
      if (!isDocFailure(error)) throw error;
      skipped(theirs.id);
    }
  }
  return out;
}

export interface RoundContext {
  replica: Replica;
  tree: DigestTree;
  request(request: Request): Promise<Response>;
  /** Applies a write that came from the peer (through the pending buffer). */
  applyFromPeer(entry: PushEntry): Promise<unknown>;
  /**
   * What a differing document turned out to be after the exchange: lets the
   * tree correct an entry that was stale (say, a version record of a write
   * lost in a crash), so the same difference is not found round after round.
   */
  settled?(id: string, status: DocState): void;
  /** A damaged document was rewritten from the peer's whole state (for the log). */
  repaired?(id: string): void;
  /**
   * True when our answer to the peer's own round already carries what it lacks of `id` (it still reports
   * `theirs`, we are still at `ours`): the content is on its way, so this round does not push it again.
   */
  alreadySent?(id: string, theirs: DocState, ours: Uint8Array): boolean;
  /** This round pushes the peer, which reported `theirs`, what it lacks of `id` up to our version `ours`. */
  pushing?(id: string, theirs: DocState, ours: Uint8Array): void;
}

export interface RoundReport {
  roundTrips: number;
  differing: number;
  repairedHere: number;
  repairedThere: number;
  /** Differing documents that failed here (read or write) and were left out of the round. */
  skipped: number;
  /** Damaged documents here rewritten from the peer's whole state (also counted in repairedHere). */
  damagedRepaired?: number;
}

export async function runRound(ctx: RoundContext): Promise<RoundReport> {
  const report: RoundReport = { roundTrips: 0, differing: 0, repairedHere: 0, repairedThere: 0, skipped: 0, damagedRepaired: 0 };
  // A damaged document's version record may still match the peer's: make it differ, so this round looks at it.
  await ctx.replica.scrub(scrubDocsPerRound);
  for (const id of ctx.replica.damagedDocs()) ctx.tree.set(id, unknownVersionHash());
  const differing = new Set<string>();
  let nodes: Array<{ path: string } & NodeDigest> = [{ path: "", ...ctx.tree.node("") }];
  while (nodes.length > 0) {
    const batch = nodes.splice(0, maxPerRequest);
    const response = await ctx.request({ type: "tree", nodes: batch });
    report.roundTrips++;
    if (response.type !== "treeAnswer") throw new Error(`assertion failed: a tree request answered with ${response.type}`);
    for (const answer of response.answers) {
      if (answer.answer === "children") {
        answer.children.forEach((theirs, i) => {
          const path = answer.path + i.toString(16);
          const mine = ctx.tree.node(path);
          if (!sameDigest(mine, theirs)) nodes.push({ path, ...mine });
        });
      } else if (answer.answer === "entries") {
        const theirs = new Map(answer.entries);
        for (const [id, hash] of ctx.tree.entries(answer.path)) {
          const other = theirs.get(id);
          if (!other || !bytesEqual(other, hash)) differing.add(id);
          theirs.delete(id);
        }
        for (const id of theirs.keys()) differing.add(id);
      }
    }
  }
  report.differing = differing.size;
  const ids = [...differing].sort();
  for (let i = 0; i < ids.length; i += maxPerRequest) {
    await syncDocs(ctx, ids.slice(i, i + maxPerRequest), report);
  }
  return report;
}

/** Runs one document's part of a round; a document failure is counted and skipped, anything else thrown. */
async function perDoc<T>(report: RoundReport, step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (error) {
    if (!isDocFailure(error)) throw error;
    report.skipped++;
    return undefined;
  }
}

/** Its status; a damaged document is "absent", so that the peer answers with its whole state. */
async function statusForSync(ctx: RoundContext, id: string, damaged: Set<string>): Promise<DocState> {
  try {
    return await ctx.replica.status(id);
  } catch (error) {
    if (!isConcordError(error, "corrupt_record")) throw error;
    damaged.add(id);
    return { state: "absent" };
  }
}

/** Rewrites a damaged document from the peer's whole state; false when that is not possible or not needed. */
async function repairDamaged(ctx: RoundContext, theirs: { id: string; diff?: Uint8Array } & DocState, report: RoundReport): Promise<boolean> {
  if (theirs.state !== "present" || !theirs.diff) return false;
  if (!(await ctx.replica.repair(theirs.id, theirs.kind, theirs.diff))) return false;
  report.repairedHere++;
  report.damagedRepaired = (report.damagedRepaired ?? 0) + 1;
  ctx.repaired?.(theirs.id);
  ctx.settled?.(theirs.id, await ctx.replica.status(theirs.id));
  return true;
}

async function syncDocs(ctx: RoundContext, ids: string[], report: RoundReport): Promise<void> {
  const before = new Map<string, DocState>();
  const damaged = new Set<string>();
  for (const id of ids) {
    const status = await perDoc(report, () => statusForSync(ctx, id, damaged));
    if (status) before.set(id, status);
  }
  if (before.size === 0) return;
  const response = await ctx.request({ type: "sync", docs: [...before].map(([id, state]) => ({ id, ...state })) });
  report.roundTrips++;
  if (response.type !== "syncAnswer") throw new Error(`assertion failed: a sync request answered with ${response.type}`);
  const toPeer: PushEntry[] = [];
  const answered = new Set<string>();
  // Documents side by side, so their applies share group commits (one fsync per document would make a
  // far-behind peer's catch-up wait on the disk once per document).
  const steps: Array<Promise<unknown>> = [];
  for (const theirs of response.docs) {
    const mine = before.get(theirs.id);
    if (!mine || answered.has(theirs.id)) continue; // not asked about, or answered twice: ignore
    answered.add(theirs.id);
    steps.push(perDoc(report, async () => {
      if (damaged.has(theirs.id)) {
        if (await repairDamaged(ctx, theirs, report)) return;
        // Not repaired: still damaged (the peer has no whole state of it), this throws and the step is skipped;
        // it loads now (repaired meanwhile), an ordinary exchange follows.
        await ctx.replica.status(theirs.id);
      }
      const entry = await syncDoc(ctx, theirs, mine, report);
      if (entry) toPeer.push(entry);
      ctx.settled?.(theirs.id, await ctx.replica.status(theirs.id));
    }));
  }
  await Promise.all(steps);
  toPeer.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // the order the documents were asked in, whatever finished first
  // A document left out of the answer failed there: its tree entry stays as it is until a later round.
  if (toPeer.length > 0) {
    const pushed = await ctx.request({ type: "push", entries: toPeer });
    report.roundTrips++;
    if (pushed.type === "pushAck") report.repairedThere += pushed.statuses.filter((s) => s === "persisted").length;
  }
}

/** Brings one differing document together; what the peer needs from here, if anything. */
async function syncDoc(
  ctx: RoundContext, theirs: { id: string; diff?: Uint8Array } & DocState, mine: DocState, report: RoundReport,
): Promise<PushEntry | undefined> {
  const id = theirs.id;
  if (theirs.state === "deleted") {
    if (mine.state !== "deleted") {
      await ctx.applyFromPeer({ id, deleted: true });
      report.repairedHere++;
    }
    return undefined;
  }
  if (mine.state === "deleted") return { id, deleted: true };
  if (theirs.state === "present" && theirs.diff) {
    await ctx.applyFromPeer({ id, kind: theirs.kind, delta: theirs.diff });
    report.repairedHere++;
  }
  const now = await ctx.replica.status(id);
  if (now.state !== "present") return undefined;
  if (ctx.alreadySent?.(id, theirs, now.version)) return undefined;
  // Absent there, or of the other kind: the whole state, which wins there or goes to the conflict document (src/replica/remote-apply.ts).
  if (theirs.state === "absent" || theirs.kind !== now.kind) {
    ctx.pushing?.(id, theirs, now.version);
    return { id, kind: now.kind, delta: await ctx.replica.encodeState(id) };
  }
  if (bytesEqual(now.version, theirs.version)) return undefined;
  ctx.pushing?.(id, theirs, now.version);
  return { id, kind: now.kind, delta: await ctx.replica.diff(id, theirs.version) };
}
