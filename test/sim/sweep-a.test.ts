/** Seed sweep, first half (see sweep.ts). */
import { sweepSeeds } from "./sweep.ts";

sweepSeeds(1, 10);
