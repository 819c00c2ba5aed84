export type { Clock, ManualClock } from "./clock.ts";
export { systemClock, createManualClock } from "./clock.ts";
export type { Random } from "./random.ts";
export { systemRandom, createSeededRandom } from "./random.ts";
