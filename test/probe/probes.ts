/** Every probe, by finding number. */
import { probe1 } from "./f01-automerge-depth.ts";
import { probe2 } from "./f02-noncanonical.ts";
import { probe3 } from "./f03-large-inserts.ts";
import { probe4 } from "./f04-yjs-depth.ts";
import { probe5 } from "./f05-gossip-memory.ts";
import { probe6 } from "./f06-missing-tokens.ts";
import { probe7 } from "./f07-replay-restart.ts";
import { probe8 } from "./f08-forged-frames.ts";
import { probe9 } from "./f09-token-lockout.ts";
import { probe10 } from "./f10-key-rotation.ts";
import { probe11 } from "./f11-ids-in-logs.ts";
import { probe12 } from "./f12-sse-leak.ts";
import type { Probe } from "./row.ts";

export const probes = new Map<number, Probe>([
  [1, probe1], [2, probe2], [3, probe3], [4, probe4], [5, probe5], [6, probe6],
  [7, probe7], [8, probe8], [9, probe9], [10, probe10], [11, probe11], [12, probe12],
]);
