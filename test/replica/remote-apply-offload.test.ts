/**
 * A region's delta applied on a copy elsewhere (automerge-apply-offload.ts),
 * through Replica.applyRemote: the same document as without, a write racing
 * the worker's round trip kept along with it, and a trap in the worker
 * counted against the document as a trap here is (quarantined after
 * quarantineAfterTraps). The applier runs runApplyJob in this thread behind a
 * gate the test opens (test/runtime/automerge-verifier-pool.test.ts runs the
 * real workers).
 */
import * as Automerge from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import type { ApplyJob, ApplyOutcome } from "../../src/doc/automerge-apply-offload.ts";
import { verifyDelta, type ChangeVerifier } from "../../src/doc/automerge-verdicts.ts";
import { isConcordError } from "../../src/errors.ts";
import { quarantineAfterTraps } from "../../src/replica/replica.ts";
import type { InternalReplicaOptions } from "../../src/replica/types.ts";
import { runApplyJob, runOpsJob } from "../../src/runtime/automerge-apply-job.ts";
import { memoryReplica } from "../helpers/replicas.ts";

/** An applier whose answers wait for `open()`; `started` counts the jobs it took. */
function gatedApplier(answer: (job: ApplyJob) => ApplyOutcome = runApplyJob) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const state = { started: 0 };
  const verifier: ChangeVerifier = {
    minOps: 0,
    maxDocOpsPerDeltaOp: Number.POSITIVE_INFINITY,
    verify: async (delta) => verifyDelta(delta),
    apply: async (job) => {
      state.started++;
      const outcome = structuredClone(answer(structuredClone(job)));
      await gate;
      return outcome;
    },
    runOps: async (job) => {
      state.started++;
      const outcome = structuredClone(runOpsJob(structuredClone(job)));
      await gate;
      return outcome;
    },
  };
  return { verifier, state, open };
}

const replicaWith = (verifier: ChangeVerifier) => memoryReplica({ changeVerifier: verifier } as InternalReplicaOptions);

/** A change by another region's writer, inserting `text` at the end of `t`. */
function remoteInsert(state: Uint8Array, actor: string, text: string): Uint8Array {
  const doc = Automerge.load<any>(state, { actor });
  return Automerge.getLastLocalChange(Automerge.change(doc, { time: 0 }, (d) => Automerge.splice(d, ["t"], d.t.length, 0, text)))!;
}

async function settle(until: () => boolean): Promise<void> {
  while (!until()) await new Promise((resolve) => setImmediate(resolve));
}

describe("a region's Automerge delta applied off the thread", () => {
  it("gives the document the in-thread apply gives", async () => {
    const { verifier, state, open } = gatedApplier();
    open();
    const [offloaded, inline] = [await replicaWith(verifier), await memoryReplica()];
    try {
      for (const replica of [offloaded, inline]) await replica.create("doc", "automerge", { init: { t: "" } });
      const delta = remoteInsert(await inline.encodeState("doc"), "bb".repeat(16), "hello from elsewhere");
      for (const replica of [offloaded, inline]) await replica.applyRemote("doc", "automerge", delta);
      expect(state.started).toBe(1);
      expect((await offloaded.read("doc")).value).toEqual((await inline.read("doc")).value);
      const [a, b] = [Automerge.load(await offloaded.encodeState("doc")), Automerge.load(await inline.encodeState("doc"))];
      expect(Automerge.getHeads(a).sort()).toEqual(Automerge.getHeads(b).sort());
    } finally {
      await offloaded.close();
      await inline.close();
    }
  });

  it("applies a client's delta (Replica.update) on a copy elsewhere too, with the same result", async () => {
    const { verifier, state, open } = gatedApplier();
    open();
    const [offloaded, inline] = [await replicaWith(verifier), await memoryReplica()];
    try {
      for (const replica of [offloaded, inline]) await replica.create("doc", "automerge", { init: { t: "" } });
      const delta = remoteInsert(await inline.encodeState("doc"), "cc".repeat(16), "from a client");
      for (const replica of [offloaded, inline]) await replica.update("doc", delta);
      expect(state.started).toBe(1);
      expect((await offloaded.read("doc")).value).toEqual({ t: "from a client" });
      expect((await offloaded.read("doc")).version).toEqual((await inline.read("doc")).version);
    } finally {
      await offloaded.close();
      await inline.close();
    }
  });

  it("keeps both a delta applied elsewhere and a write that lands while it is away", async () => {
    const { verifier, state, open } = gatedApplier();
    const replica = await replicaWith(verifier);
    try {
      await replica.create("doc", "automerge", { init: { t: "" } });
      const delta = remoteInsert(await replica.encodeState("doc"), "bb".repeat(16), "remote");
      const remote = replica.applyRemote("doc", "automerge", delta);
      await settle(() => state.started === 1);
      // The worker holds the result of the document as it was; this write moves it first.
      await replica.change("doc", (d: any) => void (d.local = true));
      open();
      await remote;
      expect((await replica.read("doc")).value).toEqual({ t: "remote", local: true });
      const saved = Automerge.load<any>(await replica.encodeState("doc"));
      expect(Automerge.getHeads(saved)).toHaveLength(2);
    } finally {
      await replica.close();
    }
  });

  it("runs a PATCH on a copy elsewhere, and keeps a write that lands while it is away as well", async () => {
    const { verifier, state, open } = gatedApplier();
    const [offloaded, inline] = [await replicaWith(verifier), await memoryReplica()];
    try {
      for (const replica of [offloaded, inline]) await replica.create("doc", "automerge", { init: { t: "" } });
      const ops = [{ op: "insertText" as const, path: ["t"], index: 0, text: "patched" }, { op: "set" as const, path: ["m", "k"], value: [1, { a: "b" }] }];
      const patched = offloaded.patch("doc", ops);
      await settle(() => state.started === 1);
      open();
      await patched;
      await inline.patch("doc", ops);
      expect((await offloaded.read("doc")).value).toEqual((await inline.read("doc")).value);

      // Now a PATCH whose worker result goes stale: a change lands first, and the PATCH runs here instead.
      const { verifier: slow, state: slowState, open: release } = gatedApplier();
      const racing = await replicaWith(slow);
      try {
        await racing.create("doc", "automerge", { init: { t: "" } });
        const patch = racing.patch("doc", [{ op: "insertText", path: ["t"], index: 0, text: "late" }]);
        await settle(() => slowState.started === 1);
        await racing.change("doc", (d: any) => void (d.early = true));
        release();
        await patch;
        expect((await racing.read("doc")).value).toEqual({ t: "late", early: true });
      } finally {
        await racing.close();
      }
    } finally {
      await offloaded.close();
      await inline.close();
    }
  });

  it("quarantines a document whose delta traps the worker's engine, as a trap here would", async () => {
    const trapped: ApplyOutcome = {
      ok: false,
      error: { code: "unavailable", message: "the Automerge engine crashed", details: { reason: "engine_panic", damaged: true, trapped: true } },
    };
    const { verifier, open } = gatedApplier(() => trapped);
    open();
    const replica = await replicaWith(verifier);
    try {
      await replica.create("doc", "automerge", { init: { t: "" } });
      const delta = remoteInsert(await replica.encodeState("doc"), "bb".repeat(16), "poison");
      const codes: string[] = [];
      for (let attempt = 0; attempt <= quarantineAfterTraps; attempt++) {
        const error = await replica.applyRemote("doc", "automerge", delta).then(() => undefined, (e: unknown) => e);
        codes.push(isConcordError(error) ? error.code : String(error));
      }
      expect(codes).toEqual([...Array(quarantineAfterTraps).fill("unavailable"), "quarantined"]);
      // Nothing of the delta reached the document, and other documents are served.
      await replica.create("other", "automerge");
      expect((await replica.read("other")).value).toEqual({});
    } finally {
      await replica.close();
    }
  });
});
