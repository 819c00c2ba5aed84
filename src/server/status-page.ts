/**
 * GET /: a small HTML page for operators showing this region, its peers, their
 * state and lag. It refreshes itself every few seconds; no JavaScript.
 */
import type { ReplicaStats } from "../replica/types.ts";

const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export interface StatusPageOptions {
  /** Client requests need no token: said in red at the top, so an open region is never missed. */
  authOff?: boolean;
  refreshSeconds?: number;
}

/** Renders the status page from replica.stats(). */
export function statusPage(stats: ReplicaStats, options: StatusPageOptions = {}): string {
  const refreshSeconds = options.refreshSeconds ?? 5;
  const replication = stats.replication;
  const peers = Object.entries(replication?.peers ?? {});
  const rows = peers.map(([id, p]) => {
    const up = p.up;
    return `<tr><td>${escape(id)}</td><td class="${up ? "up" : "down"}">${up ? "up" : "down"}</td><td>${p.lagMs} ms</td>` +
      `<td>${p.queueEntries}</td><td>${p.antiEntropyRounds}</td><td>${p.docsRepaired}</td></tr>`;
  }).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${refreshSeconds}">
<title>Concord ${escape(stats.region)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}.up{color:#080}.down{color:#c00;font-weight:bold}</style>
</head><body>
<h1>Concord — region ${escape(stats.region)}</h1>
${options.authOff ? `<p class="down" id="auth-off">Authentication is off: every client request has every scope (development only).</p>\n` : ""}<p>Documents: ${replication?.documents ?? "?"} · cached: ${stats.cachedDocs} · rejected deltas: ${stats.rejectedDeltas}</p>
${stats.quarantinedDocs > 0 ? `<p class="down" id="quarantined">Quarantined documents (each crashed the Automerge engine on every use; refused until released or repaired): ${stats.quarantinedDocs}</p>\n` : ""}
<h2>Peers</h2>
${peers.length === 0 ? "<p>No replication attached.</p>" : `<table><tr><th>peer</th><th>state</th><th>lag</th><th>queued</th><th>anti-entropy rounds</th><th>docs repaired</th></tr>\n${rows}</table>`}
<p><a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a> · refreshes every ${refreshSeconds} s</p>
</body></html>
`;
}
