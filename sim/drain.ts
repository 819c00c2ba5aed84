/**
 * Lets every promise continuation queued so far run before the next simulated
 * event. The replica and gossip code is async but never waits on real I/O in
 * the simulator, so one macrotask boundary drains all of it. This is the one
 * place sim/ touches a real scheduling primitive; it carries no time.
 */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
