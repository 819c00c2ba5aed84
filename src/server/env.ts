/** The Hono environment shared by the server's routes: what middleware puts on the context. */
import type { Principal } from "./auth.ts";

export interface AppEnv {
  Variables: {
    principal: Principal;
  };
}
