/**
 * The HTML report of one run: a single self-contained page (inline SVG and
 * CSS, no external assets) with the summary figures, a timeline with a lane
 * per region (crashes, pauses, clock skew, clogged links), partition bands,
 * the network's loss/duplication/reordering windows, and a plot over virtual
 * time of how many documents were divergent (a region that is down counts as
 * differing on every document) and how many regions were down.
 */
import type { TimelineEntry } from "./nemesis-executor.ts";
import type { SimResult } from "./run.ts";

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

interface Span {
  from: number;
  to: number;
  label: string;
}

/** Pairs start and end actions into spans; one still open ends at `end`. */
function spans(actions: TimelineEntry[], starts: (a: TimelineEntry) => string | undefined, ends: (a: TimelineEntry) => boolean, end: number): Span[] {
  const out: Span[] = [];
  let open: { from: number; label: string } | undefined;
  for (const a of actions) {
    if (open && (ends(a) || starts(a) !== undefined)) {
      out.push({ ...open, to: a.at });
      open = undefined;
    }
    const label = starts(a);
    if (label !== undefined) open = { from: a.at, label };
  }
  if (open) out.push({ ...open, to: end });
  return out;
}

export function renderReport(r: SimResult): string {
  const { timeline } = r;
  // A margin after the end, so the convergence marker and its label stay inside the picture.
  const end = Math.max(timeline.endMs * 1.08, timeline.endMs + 400, 1);
  const left = 120;
  const width = 1140;
  const plotWidth = width - left - 20;
  const x = (t: number) => left + (t / end) * plotWidth;
  const laneH = 34;
  const top = 30;
  const lanes = [...r.regions, "network"];
  const laneY = (i: number) => top + i * laneH;
  const height = top + lanes.length * laneH + 30;
  const acts = timeline.actions;
  const finalHeal = (a: TimelineEntry) => a.type === "final-heal";
  const parts: string[] = [];

  // Phases.
  parts.push(`<rect x="${x(0)}" y="${top - 22}" width="${x(timeline.chaosStartMs) - x(0)}" height="${lanes.length * laneH + 22}" fill="#f4f4f4"/>`);
  parts.push(`<rect x="${x(timeline.healAtMs)}" y="${top - 22}" width="${x(end) - x(timeline.healAtMs)}" height="${lanes.length * laneH + 22}" fill="#eef8ee"/>`);
  parts.push(`<text x="${x(0) + 4}" y="${top - 8}" class="phase">setup</text><text x="${x(timeline.chaosStartMs) + 4}" y="${top - 8}" class="phase">chaos</text><text x="${x(timeline.healAtMs) + 4}" y="${top - 8}" class="phase">healed, quiescing</text>`);
  // Partition bands across every region lane.
  for (const s of spans(acts, (a) => (a.type === "partition" ? (a.detail ?? "").split(":")[0] : undefined), (a) => a.type === "heal" || finalHeal(a), end)) {
    parts.push(`<rect x="${x(s.from)}" y="${top}" width="${Math.max(1, x(s.to) - x(s.from))}" height="${r.regions.length * laneH}" fill="#f5a623" fill-opacity="0.22"><title>partition (${esc(s.label)}) ${s.from}–${s.to} ms</title></rect>`);
    parts.push(`<text x="${x(s.from) + 2}" y="${top + r.regions.length * laneH - 4}" class="band">${esc(s.label)}</text>`);
  }
  // Lanes.
  lanes.forEach((name, i) => {
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${laneY(i) + laneH / 2}" y2="${laneY(i) + laneH / 2}" stroke="#ccc"/>`);
    parts.push(`<text x="${left - 8}" y="${laneY(i) + laneH / 2 + 4}" text-anchor="end" class="lane">${esc(name)}</text>`);
  });
  r.regions.forEach((name, i) => {
    const mine = acts.filter((a) => a.region === name || finalHeal(a));
    const y = laneY(i);
    for (const s of spans(mine, (a) => (a.type === "crash" ? "down" : undefined), (a) => a.type === "restart", end)) {
      parts.push(`<rect x="${x(s.from)}" y="${y + 8}" width="${Math.max(2, x(s.to) - x(s.from))}" height="${laneH - 16}" fill="#d0021b" fill-opacity="0.75"><title>${esc(name)} crashed ${s.from}–${s.to} ms</title></rect>`);
    }
    for (const s of spans(mine, (a) => (a.type === "pause" ? "paused" : undefined), (a) => a.type === "resume" || finalHeal(a), end)) {
      parts.push(`<rect x="${x(s.from)}" y="${y + 11}" width="${Math.max(2, x(s.to) - x(s.from))}" height="${laneH - 22}" fill="#777"><title>${esc(name)} paused ${s.from}–${s.to} ms</title></rect>`);
    }
    for (const s of spans(mine, (a) => (a.type === "skew" && a.detail !== "timers ×1" ? a.detail ?? "" : undefined), (a) => a.type === "skew" || finalHeal(a), end)) {
      parts.push(`<rect x="${x(s.from)}" y="${y + 3}" width="${Math.max(2, x(s.to) - x(s.from))}" height="5" fill="#4a90e2"><title>${esc(name)} clock ${esc(s.label)}</title></rect>`);
      parts.push(`<text x="${x(s.from) + 2}" y="${y + 16}" class="small" fill="#2a6ab2">${esc(s.label)}</text>`);
    }
    for (const a of mine.filter((a) => a.type === "crash")) {
      parts.push(`<text x="${x(a.at)}" y="${y + laneH / 2 + 5}" text-anchor="middle" class="crash">✕<title>${esc(name)} crashed at ${a.at} ms: ${esc(a.detail ?? "")}</title></text>`);
    }
    // Clogged links touching this region: a thin purple bar per clog window.
    const clogs = spans(acts.filter((a) => (a.type === "clog" || a.type === "unclog") && (a.detail ?? "").split("–").includes(name)),
      (a) => (a.type === "clog" ? a.detail ?? "" : undefined), (a) => a.type === "unclog", end);
    clogs.forEach((s, k) => {
      parts.push(`<rect x="${x(s.from)}" y="${y + laneH - 6 - (k % 3) * 2}" width="${Math.max(2, x(s.to) - x(s.from))}" height="2" fill="#9013fe"><title>link ${esc(s.label)} clogged</title></rect>`);
    });
  });
  // Network conditions lane.
  const netY = laneY(r.regions.length);
  for (const s of spans(acts, (a) => (a.type === "net" && !/loss 0\.00, dup 0\.00, reorder 0 ms/.test(a.detail ?? "") ? a.detail ?? "" : undefined), (a) => a.type === "net" || finalHeal(a), end)) {
    parts.push(`<rect x="${x(s.from)}" y="${netY + 8}" width="${Math.max(2, x(s.to) - x(s.from))}" height="${laneH - 16}" fill="#bd10e0" fill-opacity="0.35"><title>${esc(s.label)}</title></rect>`);
  }
  // Final heal and convergence.
  parts.push(`<line x1="${x(timeline.healAtMs)}" x2="${x(timeline.healAtMs)}" y1="${top - 22}" y2="${top + lanes.length * laneH}" stroke="#2e7d32" stroke-width="2"/>`);
  if (r.convergenceMs !== null) {
    const cx = x(timeline.healAtMs + r.convergenceMs);
    parts.push(`<line x1="${cx}" x2="${cx}" y1="${top}" y2="${top + lanes.length * laneH}" stroke="#2e7d32" stroke-dasharray="4 3" stroke-width="2"/><text x="${cx + 4}" y="${top + 12}" class="small" fill="#2e7d32">converged +${r.convergenceMs} ms</text>`);
  }
  parts.push(axis(x, end, top + lanes.length * laneH + 2));
  const timelineSvg = `<svg width="${width}" height="${height + 10}" viewBox="0 0 ${width} ${height + 10}">${parts.join("")}</svg>`;

  // Divergence plot.
  const plotH = 160;
  const maxDiv = Math.max(1, ...timeline.divergence.map(([, d]) => d));
  const py = (d: number) => 10 + plotH - (d / maxDiv) * plotH;
  const path = stepPath(timeline.divergence.map(([t, d]) => [x(t), py(d)]), x(end));
  // Regions down, on their own scale (0 … all regions), so a crash is visible next to the divergence it causes.
  const pyDown = (n: number) => 10 + plotH - (n / Math.max(1, r.regions.length)) * plotH;
  const downPath = stepPath(timeline.divergence.map(([t, , down]) => [x(t), pyDown(down)]), x(end));
  const plot = `<svg width="${width}" height="${plotH + 45}" viewBox="0 0 ${width} ${plotH + 45}">
    <rect x="${x(timeline.healAtMs)}" y="10" width="${x(end) - x(timeline.healAtMs)}" height="${plotH}" fill="#eef8ee"/>
    <line x1="${left}" x2="${left + plotWidth}" y1="${py(0)}" y2="${py(0)}" stroke="#999"/>
    <line x1="${left}" x2="${left}" y1="10" y2="${py(0)}" stroke="#999"/>
    <text x="${left - 8}" y="${py(maxDiv) + 4}" text-anchor="end" class="small">${maxDiv}</text>
    <text x="${left - 8}" y="${py(0) + 4}" text-anchor="end" class="small">0</text>
    <text x="14" y="${10 + plotH / 2}" class="lane" transform="rotate(-90 14 ${10 + plotH / 2})" text-anchor="middle">divergent docs</text>
    <text x="${left + plotWidth - 4}" y="${pyDown(r.regions.length) + 12}" text-anchor="end" class="small" fill="#555">dashed: regions down (top = all ${r.regions.length})</text>
    <path d="${downPath}" fill="none" stroke="#555" stroke-width="1.2" stroke-dasharray="3 2"/>
    <path d="${path}" fill="none" stroke="#d0021b" stroke-width="1.8"/>
    ${axis(x, end, py(0) + 2)}
  </svg>`;

  const ok = r.violations.length === 0;
  const item = (v: { kind: string; message: string }) => `<li><b>${esc(v.kind)}</b> ${esc(v.message)}</li>`;
  const figure = (label: string, value: string, bad = false) => `<div class="fig${bad ? " bad" : ""}"><div class="v">${esc(value)}</div><div class="l">${esc(label)}</div></div>`;
  const figures = [
    figure("result", ok ? "PASS" : "FAIL", !ok),
    figure("converged", r.converged ? "yes" : "no", !r.converged),
    figure("convergence after final heal", r.convergenceMs === null ? "never" : `${r.convergenceMs} ms`, r.convergenceMs === null),
    figure("lost writes", String(r.lostWrites), r.lostWrites > 0),
    figure("writes acknowledged", `${r.writes.acked} / ${r.writes.attempted}`),
    figure("crashes", String(r.crashes)),
    figure("messages", `${r.messages} (${r.network.lost} lost, ${r.network.duplicated} dup)`),
    figure("bytes on the wire", r.bytes.toLocaleString("en-US")),
    figure("peak peer queue", `${r.peakQueueBytes} / ${r.options.queueMaxBytes} B`),
    figure("events", String(r.events)),
  ].join("");
  const violations = ok ? `<p class="ok">Every check passed: convergence, no acknowledged write lost, liveness, bounded memory, durability.</p>`
    : `<ul class="violations">${r.violations.slice(0, 8).map(item).join("")}</ul>${r.violations.length > 8
      ? `<details><summary>${r.violations.length - 8} more violation(s)</summary><ul class="violations">${r.violations.slice(8).map(item).join("")}</ul></details>` : ""}`;
  const actionRows = acts.map((a) => `<tr><td>${a.at}</td><td>${esc(a.type)}</td><td>${esc(a.region ?? "")}</td><td>${esc(a.detail ?? "")}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>concord sim — seed ${r.seed}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px 32px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 6px}
code{background:#f3f3f3;padding:2px 6px;border-radius:4px;font-size:12.5px}
.figs{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}.fig{border:1px solid #ddd;border-radius:8px;padding:8px 12px;min-width:120px}
.fig .v{font-size:18px;font-weight:600}.fig .l{font-size:12px;color:#666}.fig.bad{border-color:#d0021b;background:#fff3f3}.fig.bad .v{color:#d0021b}
.ok{color:#2e7d32;font-weight:600}.violations li{color:#b00;margin:2px 0}
svg text.lane{font-size:12.5px;fill:#333}svg text.phase{font-size:11px;fill:#888}svg text.small{font-size:10.5px;fill:#555}
svg text.band{font-size:10.5px;fill:#a0620a}svg text.crash{font-size:16px;fill:#fff;font-weight:700}
.legend span{display:inline-block;margin-right:16px;font-size:12px}.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle}
table{border-collapse:collapse;font-size:12.5px}td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
details{margin-top:10px}
</style></head><body>
<h1>concord sim — seed ${r.seed}: ${ok ? "all checks passed" : `${r.violations.length} violation(s)`}</h1>
<div>${r.regions.length} regions, ${r.options.docs} documents, ${r.options.ops} writes, chaos ${r.options.chaosMs} ms (virtual)${r.options.bugs.length ? `, injected bug: <b>${esc(r.options.bugs.join(", "))}</b>` : ""}. Trace hash <code>${r.traceHash}</code></div>
<div style="margin-top:6px">Replay: <code>${esc(r.replay)}</code></div>
<div class="figs">${figures}</div>
${violations}
<h2>Timeline (virtual time)</h2>
<div class="legend"><span><i style="background:#f5a623;opacity:.45"></i>partition</span><span><i style="background:#d0021b"></i>crashed</span><span><i style="background:#777"></i>paused</span><span><i style="background:#4a90e2"></i>clock skew</span><span><i style="background:#9013fe"></i>link clogged</span><span><i style="background:#bd10e0;opacity:.5"></i>loss / dup / reorder</span><span><i style="background:#2e7d32"></i>final heal · converged (dashed)</span></div>
${timelineSvg}
<h2>Divergent documents (versions differ across regions; a region that is down differs on all) and regions down (dashed)</h2>
${plot}
<details><summary>${acts.length} nemesis actions</summary><table><tr><th>ms</th><th>action</th><th>region</th><th>detail</th></tr>${actionRows}</table></details>
</body></html>
`;
}

/** An SVG step path through points (already in pixels), held level to `endX`. */
function stepPath(points: ReadonlyArray<[number, number]>, endX: number): string {
  let path = "";
  for (const [px, py] of points) path += path === "" ? `M${px.toFixed(1)},${py.toFixed(1)}` : `H${px.toFixed(1)}V${py.toFixed(1)}`;
  return path === "" ? "" : `${path}H${endX.toFixed(1)}`;
}

function axis(x: (t: number) => number, end: number, y: number): string {
  const step = [100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000].find((s) => end / s <= 12) ?? 120_000;
  let out = "";
  for (let t = 0; t <= end; t += step) {
    out += `<line x1="${x(t)}" x2="${x(t)}" y1="${y}" y2="${y + 4}" stroke="#999"/><text x="${x(t)}" y="${y + 16}" text-anchor="middle" class="small">${t >= 1000 ? `${t / 1000}s` : `${t}ms`}</text>`;
  }
  return out;
}
