/**
 * `npm run bench`: every benchmark, each printing figures against a baseline
 * measured in the same run. Never part of `npm test`; nothing here asserts.
 */
const suites = [
  ["validation", () => import("./yjs-apply.bench.ts")],
  ["replica writes", () => import("./replica-write.bench.ts")],
  ["replica creates", () => import("./replica-write-create.bench.ts")],
  ["replica trace", () => import("./replica-write-trace.bench.ts")],
  ["size at rest", () => import("./at-rest-size.bench.ts")],
  ["replication", () => import("./replication.bench.ts")],
  ["server", () => import("./server.bench.ts")],
  ["region start-up", () => import("./startup.bench.ts")],
  ["catch-up", () => import("./catch-up.bench.ts")],
  ["http", () => import("./http.bench.ts")],
  ["backup", () => import("./backup.bench.ts")],
  ["simulator", () => import("./sim.bench.ts")],
  ["cli start-up", () => import("./cli-start.bench.ts")],
  ["automerge large inputs", () => import("./automerge-large.bench.ts")],
  ["stock sockets", () => import("./stock-sockets.bench.ts")],
  ["client catch-up", () => import("./client-catch-up.bench.ts")],
  ["postgres writes", () => import("./postgres-write.bench.ts")],
  ["queries", () => import("./query.bench.ts")],
  ["postgres region", () => import("./postgres-region.bench.ts")],
] as const;

const only = process.argv[2];
console.log(`concord bench — node ${process.version}, ${new Date().toISOString()}`);
console.log(`command: npm run bench${only ? ` -- ${only}` : ""}\n`);
let failed = 0;
for (const [name, load] of suites) {
  if (only && !name.includes(only)) continue;
  try {
    const suite = await load();
    console.log(`## ${name}\n${await suite.run()}\n`);
  } catch (error) {
    // One broken suite must not take the others' figures with it.
    failed++;
    console.log(`## ${name}\nFAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  }
}
// Exit once everything is printed: a suite may leave a handle behind (a worker pool, a keep-alive socket, a
// timer of a stopped region), and a bench that hangs after its table reads as one that is still measuring.
process.exit(failed > 0 ? 1 : 0);
