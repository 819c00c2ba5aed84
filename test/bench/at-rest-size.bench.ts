/**
 * Bytes at rest against the plain engine snapshot, on the real editing traces
 * in ../shared when present: a stored snapshot is compressed, then sealed.
 */
import * as A from "@automerge/automerge";
import * as Y from "yjs";
import { sealOverheadBytes } from "../../src/crypto/seal.ts";
import { encodePayload } from "../../src/storage/doc-codec.ts";
import { loadTrace, table, type SequentialTrace } from "./harness.ts";

const storedBytes = (snapshot: Uint8Array) => 8 + sealOverheadBytes + encodePayload(snapshot).length;

function yjsSnapshot(trace: SequentialTrace): Uint8Array {
  const doc = new Y.Doc();
  const text = doc.getText("text");
  for (const txn of trace.txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del);
        if (ins) text.insert(pos, ins);
      }
    });
  }
  if (text.toString() !== trace.endContent) throw new Error("the Yjs replay does not match the trace's end content");
  return Y.encodeStateAsUpdate(doc);
}

function automergeSnapshot(trace: SequentialTrace): Uint8Array {
  let doc = A.from<{ text: string }>({ text: "" }, { actor: "00".repeat(16) });
  for (const txn of trace.txns) {
    doc = A.change(doc, { time: 0 }, (d) => {
      for (const [pos, del, ins] of txn.patches) A.splice(d, ["text"], pos, del, ins);
    });
  }
  if (doc.text !== trace.endContent) throw new Error("the Automerge replay does not match the trace's end content");
  return A.save(doc);
}

export async function run(): Promise<string> {
  const rows: Array<Record<string, string | number>> = [];
  for (const name of ["automerge-paper", "sveltecomponent", "json-crdt-patch"]) {
    const trace = loadTrace(name);
    if (!trace) return "skipped: ../shared/data/editing-traces is not on this machine";
    const engines: Array<[string, (t: SequentialTrace) => Uint8Array]> = [["yjs", yjsSnapshot]];
    if (trace.txns.length < 30_000) engines.push(["automerge", automergeSnapshot]);
    for (const [engine, snapshot] of engines) {
      const plain = snapshot(trace);
      const atRest = storedBytes(plain);
      rows.push({ trace: name, engine, "plain snapshot B": plain.length, "at rest B": atRest, ratio: (atRest / plain.length).toFixed(2) });
    }
  }
  return table(rows);
}
