/**
 * Finding 9: token A opens many slow PATCH bodies (declared, a few bytes
 * sent, the rest held); then token B makes ordinary requests. A's requests
 * past its per-token cap must be refused (429), and B must not be locked out.
 * Default: 300 slow bodies against --max-concurrent 200 (so 50 per token);
 * --full: the review's 1,100 against the defaults (1,024, 256 per token).
 * "poisoned" counts B's requests that failed.
 */
import { holdBody } from "./raw-http.ts";
import { startProbeRegions } from "./regions.ts";
import { newRow, type Probe } from "./row.ts";

export const probe9: Probe = async ({ full }) => {
  const row = newRow(9, "one token's slow bodies vs another token");
  const regions = await startProbeRegions(["a"], full ? {} : { region: { server: { maxConcurrentRequests: 200 } } });
  try {
    const { a, b } = regions.tokens("a");
    await regions.api("a", "/v1/docs/shared", { method: "PUT", json: { kind: "yjs" } });
    const slow = full ? 1100 : 300;
    const url = regions.get("a").url;
    const held = [];
    for (let i = 0; i < slow; i++) {
      const h = holdBody(url, "/v1/docs/shared", 100_000, new TextEncoder().encode('{"ops":['), { authorization: `Bearer ${a}`, "content-type": "application/json" }, "PATCH");
      held.push(h);
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const others = full ? 241 : 50;
    let bOk = 0;
    const bStatuses = new Map<number, number>();
    for (let i = 0; i < others; i++) {
      const answer = await regions.api("a", "/v1/docs/shared", { token: b });
      await answer.arrayBuffer();
      bStatuses.set(answer.status, (bStatuses.get(answer.status) ?? 0) + 1);
      if (answer.ok) bOk++;
    }
    const aStatuses = new Map<number, number>();
    for (const h of held) {
      const status = h.status();
      row.tried++;
      if (status === undefined) row.accepted++; // held open by the server: within A's share
      else {
        aStatuses.set(status, (aStatuses.get(status) ?? 0) + 1);
        if (status >= 400 && status < 500) row.refused++;
        else row.crashed++;
      }
    }
    for (const h of held) h.req.destroy();
    await Promise.all(held.map((h) => h.answered));
    row.poisoned = others - bOk;
    const fmt = (m: Map<number, number>) => [...m].map(([s, n]) => `${n}×${s}`).join(" ") || "none";
    row.notes = `A: ${slow} slow bodies, answered at once: ${fmt(aStatuses)}, held: ${row.accepted}; B: ${bOk} of ${others} OK (${fmt(bStatuses)}); --rate-limit and --max-concurrent-per-token are in concord serve --help`;
  } finally {
    await regions.close();
  }
  return row;
};
