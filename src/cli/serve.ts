/**
 * `concord serve`: runs one region of a topology as an HTTP server until
 * SIGINT/SIGTERM, then stops gracefully (drain, stop gossip, close the store).
 */
import { join } from "node:path";
import type { Level } from "pino";
import { ConcordError } from "../errors.ts";
import { authModes, startRegion, type AuthMode } from "../server/region.ts";
import { createRequestLogger } from "../server/request-logger.ts";
import { positive, type ServerLimits } from "../server/server-limits.ts";
import { parseOriginList } from "../server/socket-origin.ts";
import { readTopologyFile } from "../server/topology-file.ts";
import { parseStoreUrl } from "../server/store-url.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";

const help = `Usage: concord serve --topology FILE --region ID [--data DIR] [--store postgres://…] [options]

Runs one region: the client API (/v1/docs), gossip with the other regions of
the topology (/internal/gossip), /healthz, /readyz, /metrics and a status page
at /. Needs DIR/keys/master.key (or $CONCORD_MASTER_KEY) and
DIR/keys/region.key, and every region's public key in the topology: create
them with "concord keys init --topology FILE --data PARENT". Bearer tokens are
read from DIR/tokens.json (hashes only), which must exist: a missing file is an
error, never an open server. "--auth off" runs without authentication
(development only): logged as a warning and shown on the status page. Logs: one JSON line per request,
and one warning per gossip frame refused (with its reason). One process per
data directory: a second one exits with "locked", naming the holder's pid. A
region that has never completed an anti-entropy round with a peer (new, or
restored) answers /readyz 503 until it has.

Options:
  --topology FILE   the topology (regions, URLs, public keys) (required)
  --region ID       which region this process is (required)
  --data DIR        data directory (default data/<topology name>/<region>)
  --key-file FILE   master key file (default DIR/keys/master.key)
  --store URL       keep the documents in PostgreSQL instead of LMDB in
                    DIR/store: postgres://user@host:5432/db[?schema=NAME]
                    (default schema concord_<region>, created on first start).
                    DIR then holds only keys and tokens; an LMDB store in
                    DIR/store must hold no documents: move them with
                    "concord backup --data DIR" and "concord restore --store
                    URL". Any number of processes may serve one region
                    on one schema, each with its own DIR (copies of the
                    keys): they share the documents, heartbeat in the
                    database, run anti-entropy one at a time and see each
                    other's writes (LISTEN/NOTIFY). Put a load balancer at
                    the region's URL (regions/README.md).
  --host HOST       interface to listen on (default: 127.0.0.1 for a loopback
                    URL, else 0.0.0.0; put TLS termination in front)
  --port PORT       port to listen on (default: the port of the region's URL)
  --auth MODE       tokens (default: DIR/tokens.json must exist) or off (no
                    authentication; development only)
  --log-level L     trace, debug, info, warn, error (default info)
  --rate-limit N    client requests per second per token (default: none)
  --rate-burst N    requests a token may make at once after being idle
                    (default: one second's worth)
  --allow-origins LIST  web page origins that may open sockets (/v1/sync,
                    /v1/yjs, /v1/automerge), comma-separated, e.g.
                    "https://app.example,http://localhost:5173", or "*" for
                    any (default $CONCORD_ALLOW_ORIGINS, else none). Pages
                    served from the region's own host, and clients that send
                    no Origin (not browsers), are always allowed; any other
                    browser page gets 403 on upgrade.
  --max-concurrent N            client requests in progress at most (503
                                past it; default 1024)
  --max-concurrent-per-token N  per token (429 past it; default a quarter of
                                --max-concurrent)
                    These override the topology's "limits" section.
  --gossip-compression on|off
                    deflate large gossip messages before sealing them (default
                    on; off keeps frame sizes independent of their content)
  -h, --help        this help
`;

const number = (text: string | undefined, flag: string, fraction = false) => positive(text === undefined ? undefined : Number(text), flag, fraction);

/** The limits given as flags; each overrides the same limit in the topology. */
function limitsFromFlags(values: Record<string, string | boolean | undefined>): ServerLimits {
  const flag = (name: string) => values[name] as string | undefined;
  const limits: ServerLimits = {};
  const rps = number(flag("rate-limit"), "--rate-limit", true);
  const burst = number(flag("rate-burst"), "--rate-burst");
  if (burst !== undefined && rps === undefined) throw new ConcordError("invalid_argument", "--rate-burst needs --rate-limit");
  if (rps !== undefined) limits.rateLimit = { requestsPerSecond: rps, burst: burst ?? Math.max(1, Math.ceil(rps)) };
  const max = number(flag("max-concurrent"), "--max-concurrent");
  const perToken = number(flag("max-concurrent-per-token"), "--max-concurrent-per-token");
  if (max !== undefined) limits.maxConcurrentRequests = max;
  if (perToken !== undefined) limits.maxConcurrentPerToken = perToken;
  return limits;
}

export const serveCommand: Command = defineCommand({
  name: "serve",
  summary: "run one region's HTTP server",
  help,
  flags: {
    topology: { type: "string" },
    region: { type: "string" },
    data: { type: "string" },
    "key-file": { type: "string" },
    store: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "log-level": { type: "string" },
    auth: { type: "string" },
    "rate-limit": { type: "string" },
    "rate-burst": { type: "string" },
    "max-concurrent": { type: "string" },
    "max-concurrent-per-token": { type: "string" },
    "gossip-compression": { type: "string" },
    "allow-origins": { type: "string" },
  },
  async run(values) {
    const topology = await readTopologyFile(requireFlag(values.topology, "--topology"));
    const region = requireFlag(values.region, "--region");
    const level = (values["log-level"] ?? "info") as Level;
    if (!["trace", "debug", "info", "warn", "error"].includes(level)) throw new ConcordError("invalid_argument", "--log-level must be trace, debug, info, warn or error");
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new ConcordError("invalid_argument", "--port must be 0..65535");
    const auth = (values.auth ?? "tokens") as AuthMode;
    if (!authModes.includes(auth)) throw new ConcordError("invalid_argument", "--auth must be tokens or off");
    const compression = values["gossip-compression"] ?? "on";
    if (compression !== "on" && compression !== "off") throw new ConcordError("invalid_argument", "--gossip-compression must be on or off");
    const originList = values["allow-origins"] ?? process.env["CONCORD_ALLOW_ORIGINS"];
    const allowedOrigins = originList === undefined ? [] : parseOriginList(originList);
    const logger = createRequestLogger({ level, base: { region } });
    const running = await startRegion({
      topology, region, logger, auth,
      server: limitsFromFlags(values),
      gossip: { compressFrames: compression === "on" },
      sockets: { upgrades: { allowedOrigins } },
      dataDir: values.data ?? join("data", topology.name, region),
      ...(values["key-file"] ? { keyFile: values["key-file"] } : {}),
      ...(values.store !== undefined ? { postgres: parseStoreUrl(values.store, region) } : {}),
      ...(values.host ? { host: values.host } : {}),
      ...(port !== undefined ? { port } : {}),
    });
    logger.info({ url: running.url }, `region ${region} listening`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    logger.info({ signal }, "stopping");
    await running.stop();
    return 0;
  },
});
