/** Seed sweep, second half (see sweep.ts). */
import { sweepSeeds } from "./sweep.ts";

sweepSeeds(11, 20);
