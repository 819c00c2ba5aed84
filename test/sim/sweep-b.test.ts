/** Seed sweep, second half (see sweep.ts). */
import { sweepSeeds } from "./sweep.ts";

sweepSeeds(101, 200);
