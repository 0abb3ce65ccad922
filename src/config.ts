/**
 * One typed, validated configuration. Sources, later winning: defaults, a JSON file
 * (--config), environment (PORT, HOST, GRPC_PORT, NEWSREC_<KEY> in upper snake case), flags.
 * Unknown keys in the file or NEWSREC_ variables are rejected rather than ignored, so a typo
 * cannot silently leave a default in place.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Int = (min: number, max: number, dflt: number, description: string) => Type.Integer({ minimum: min, maximum: max, default: dflt, description });

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ default: "127.0.0.1", description: "address to listen on" }),
    port: Int(0, 65535, 8080, "HTTP port"),
    grpcPort: Int(0, 65535, 50051, "gRPC port"),
    model: Type.String({ default: fileURLToPath(new URL("../models/default", import.meta.url)), description: "model bundle folder" }),
    snapshot: Type.Optional(Type.String({ description: "catalog snapshot folder to serve" })),
    dataDir: Type.Optional(Type.String({ description: "folder for the write-ahead log and compacted snapshots" })),
    demoNews: Int(0, 1_000_000, 5000, "without a snapshot: synthetic news embedded at start"),
    providers: Type.Array(Type.Union([Type.Literal("cuda"), Type.Literal("cpu")]), {
      minItems: 1,
      default: ["cpu"],
      description: "execution providers, in order of preference",
    }),
    workers: Int(1, 64, 1, "encoder worker threads"),
    intraOpThreads: Int(1, 64, 1, "ONNX threads per worker"),
    maxBatch: Int(1, 4096, 32, "micro-batch: most items per encoder run"),
    maxWaitMs: Type.Number({ minimum: 0, maximum: 1000, default: 1, description: "micro-batch: longest wait for more items" }),
    maxInFlight: Int(
      1,
      1_000_000,
      64,
      "HTTP and gRPC requests in progress at once; past it, new ones are refused at once (503 / RESOURCE_EXHAUSTED). About saturation throughput times the latency you accept",
    ),
    requestTimeoutMs: Int(1, 600_000, 2000, "per-request deadline for a rank (HTTP, and gRPC calls whose client sets no earlier deadline)"),
    headersTimeoutMs: Int(100, 600_000, 10_000, "HTTP: longest time a client may take to send its request headers"),
    bodyTimeoutMs: Int(
      100,
      600_000,
      30_000,
      "HTTP: longest time a client may take to send its whole request (headers and body); past it, 408 and the connection closes",
    ),
    idleTimeoutMs: Int(100, 3_600_000, 60_000, "HTTP: a connection silent this long is closed"),
    keepAliveTimeoutMs: Int(100, 3_600_000, 72_000, "HTTP: how long an idle keep-alive connection stays open (above a load balancer's idle timeout)"),
    maxConnections: Int(1, 1_000_000, 4096, "HTTP connections open at once; past it, new connections are closed at once"),
    maxStreams: Int(1, 1_000_000, 256, "gRPC: concurrent calls one connection may have open"),
    encoderRunTimeoutMs: Int(100, 3_600_000, 30_000, "an encoder run slower than this fails and its worker is replaced (presumed hung)"),
    indexRunTimeoutMs: Int(
      100,
      3_600_000,
      10_000,
      "an index worker with searches outstanding that sends nothing for this long (long writes and graph file reads excepted) is presumed hung: its searches fail and it is replaced",
    ),
    encoderRestartDelayMs: Int(1, 3_600_000, 100, "first wait before a dead encoder worker is replaced (doubles on each failed restart, up to 10 s)"),
    maxQueue: Int(1, 1_000_000, 2048, "items waiting for an encoder before requests are refused"),
    cacheMaxEntries: Int(0, 100_000_000, 200_000, "user vectors kept"),
    cacheTtlSeconds: Int(0, 30 * 86400, 3600, "user vector lifetime (0: no expiry)"),
    keptAnswersMaxBytes: Int(
      0,
      2 ** 40,
      64 * 1024 * 1024,
      "memory for retrieve answers kept and given again, with their response JSON, while the catalog's writes since could not have changed them (up to four per cached user vector, one per k and filter; least recently used first out; 0: every retrieve searches)",
    ),
    // The cheapest grid point with recall@10 >= 0.95 at 100,000 news of the default bundle for both
    // user models newsrec tune samples (benchmarks/RESULTS.md, "Defaults chosen by measurement");
    // a tuned snapshot's own efSearch replaces efSearch (src/catalog/hnsw-settings.ts).
    hnswM: Int(2, 128, 48, "HNSW graph degree (graphs this server or newsrec embed builds; a loaded graph keeps its own)"),
    efConstruction: Int(8, 4096, 400, "HNSW build beam (graphs this server or newsrec embed builds; a loaded graph keeps its own)"),
    efSearch: Int(
      8,
      4096,
      1000,
      "HNSW search beam, recall against latency. Left at its default, the beam is one per 50 catalog items between 100 and this up to 100,000 items, and this grows by half per tenfold beyond (1500 at a million) (measured: recall@10 >= 0.95 from 5,000 to 1,000,000 news); set here, it is used as is and outranks a tuned snapshot's (benchmarks/RESULTS.md)",
    ),
    exactMaxItems: Int(0, 10_000_000, 2000, "catalogs up to this size are searched exactly"),
    indexWorkers: Int(0, 64, 2, "worker threads that hold the HNSW graphs and run every graph search, off the event loop (0: on the main thread, as tools do)"),
    indexShards: Int(
      1,
      64,
      1,
      "graphs a catalog this server or newsrec embed builds is split into, by slot; with more than one, the index is sharded whatever indexLayout says (a loaded snapshot keeps its own)",
    ),
    indexLayout: Type.Union([Type.Literal("sharded"), Type.Literal("replicated")], {
      default: "replicated",
      description:
        "replicated: every index worker holds the whole graph and a search asks one (the most throughput; graph memory times indexWorkers); sharded: each worker holds some graphs and a search asks all (graph memory once, builds in parallel, higher recall at the same beam, half the throughput on 2 cores: benchmarks/RESULTS.md)",
    }),
    exactMirrorMaxBytes: Int(
      0,
      2 ** 40,
      64 * 1024 * 1024,
      "each encoder worker keeps its own copy of a catalog's vectors up to this size for exact scoring (onnxruntime reads no shared memory); larger catalogs are streamed through an 8 MiB chunk per exact run: less memory, slower exact runs (recall monitor, tune)",
    ),
    itemsInMemoryMaxBytes: Int(
      0,
      2 ** 40,
      64 * 1024 * 1024,
      "a snapshot whose items.jsonl is larger leaves its items' JSON there, read on demand (the most recently read 8192 kept), rather than holding it: at a million news, 288 MiB less resident memory for one read from the file per item answered; items written since are held in memory",
    ),
    workerExactMaxItems: Int(
      0,
      10_000_000,
      20_000,
      "unfiltered retrieves on catalogs up to this size are scored exactly by the ONNX graph in an encoder worker, off the main thread (0: never)",
    ),
    recallSampleRate: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.01,
      description: "fraction of HNSW retrieves recomputed exactly in the background to measure recall (0: off)",
    }),
    recallWindow: Int(1, 100_000, 200, "recall samples in the moving average of newsrec_retrieval_recall"),
    recallMaxInFlight: Int(1, 64, 1, "recall samples computing at once; one drawn while they run is dropped"),
    recallTarget: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.95,
      description: "recall@k below which newsrec_retrieval_recall alerts (exported as newsrec_retrieval_recall_target)",
    }),
    maxAgeHours: Type.Number({ minimum: 0, default: 0, description: "items older than this leave retrieval (0: never)" }),
    maxHistory: Int(1, 100_000, 1000, "longest history a request may send"),
    maxCandidates: Int(1, 100_000, 1000, "most candidates a request may send"),
    bodyLimitBytes: Int(1024, 1 << 30, 1 << 20, "largest request body"),
    compactIntervalSeconds: Int(0, 86400, 300, "with a data dir: snapshot and empty the write-ahead log this often (0: only at shutdown)"),
    shutdownGraceSeconds: Int(0, 3600, 20, "on SIGTERM: longest wait for in-flight requests before exiting"),
    catalogLog: Type.Optional(
      Type.String({
        pattern: "^nats://[^\\s,]+(,nats://[^\\s,]+)*$",
        description:
          "NATS JetStream servers (nats://HOST:PORT, comma-separated): replicas share one catalog through a replicated stream instead of a local write-ahead log",
      }),
    ),
    catalogStream: Type.String({
      pattern: "^[A-Za-z0-9_-]{1,64}$",
      default: "newsrec-catalog",
      description: "with catalogLog: the JetStream stream of catalog writes (created if missing)",
    }),
    catalogReplicas: Int(0, 5, 0, "with catalogLog: copies of the stream kept by the NATS cluster (0: 3 where the cluster has 3 or more nodes, else 1)"),
    catalogLogTimeoutMs: Int(
      100,
      600_000,
      2000,
      "with catalogLog: longest wait for JetStream to acknowledge a write (and for the catalog log at start) before answering 503",
    ),
    catalogLogMaxBytes: Int(
      1 << 20,
      Number.MAX_SAFE_INTEGER,
      8 * 2 ** 30,
      "with catalogLog: the stream's size bound; when full, writes are refused (503) rather than older writes dropped. Snapshots let it be trimmed",
    ),
    adminToken: Type.Optional(
      Type.String({ minLength: 1, description: "bearer token required for writes (prefer adminTokenFile or NEWSREC_ADMIN_TOKEN: a flag shows in ps)" }),
    ),
    adminTokenFile: Type.Optional(Type.String({ minLength: 1, description: "file holding the bearer token required for writes (a mounted secret)" })),
    allowAnonymousWrites: Type.Boolean({
      default: false,
      description: "on a non-loopback address, start without an admin token (writes open to anyone who can connect)",
    }),
    logLevel: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error"), Type.Literal("silent")], {
      default: "info",
    }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
type Key = keyof Config;
const KEYS = Object.keys(ConfigSchema.properties) as Key[];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const envName = (k: string) => `NEWSREC_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** A flag or environment value as its key's type; a value that does not parse is left for validation to name. */
export function parseValue(key: Key, raw: string): unknown {
  const schema = ConfigSchema.properties[key] as { type?: string };
  if (schema.type === "integer" || schema.type === "number") return raw.trim() === "" ? raw : Number(raw);
  if (schema.type === "boolean") return raw === "true" || raw === "1" ? true : raw === "false" || raw === "0" ? false : raw;
  if (schema.type === "array")
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return raw;
}

export function fromEnv(env: NodeJS.ProcessEnv): Partial<Record<Key, unknown>> {
  const out: Partial<Record<Key, unknown>> = {};
  const known = new Map(KEYS.map((k) => [envName(k), k]));
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith("NEWSREC_")) continue;
    const key = known.get(name);
    if (!key) throw new ConfigError(`unknown environment variable ${name}`);
    out[key] = parseValue(key, raw);
  }
  for (const [name, key] of [
    ["PORT", "port"],
    ["GRPC_PORT", "grpcPort"],
    ["HOST", "host"],
  ] as const) {
    if (env[name] !== undefined && out[key] === undefined) out[key] = parseValue(key, env[name]);
  }
  return out;
}

export function fromFile(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`config file ${path} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/** The keys a source gave for each built config: a setting the operator chose outranks one a snapshot carries. */
const given = new WeakMap<Config, ReadonlySet<string>>();

/** Whether a key of this config came from a source (file, environment, flag) rather than its default. */
export function isExplicit(config: Config, key: Key): boolean {
  return given.get(config)?.has(key) ?? false;
}

/** Merges the sources (later wins), fills defaults and validates. */
export function buildConfig(...sources: Array<Record<string, unknown>>): Config {
  const merged: Record<string, unknown> = {};
  for (const s of sources) for (const [k, v] of Object.entries(s)) if (v !== undefined) merged[k] = v;
  for (const k of Object.keys(merged)) if (!KEYS.includes(k as Key)) throw new ConfigError(`unknown configuration key "${k}"`);
  const explicit = new Set(Object.keys(merged)); // before Value.Default, which fills `merged` in place
  const withDefaults = Value.Default(ConfigSchema, merged);
  if (!Value.Check(ConfigSchema, withDefaults)) {
    const e = [...Value.Errors(ConfigSchema, withDefaults)][0]!;
    throw new ConfigError(`configuration ${e.path.slice(1) || "value"}: ${e.message}`);
  }
  given.set(withDefaults, explicit);
  return withDefaults;
}

export function configKeys(): Key[] {
  return KEYS;
}

export function describeKey(k: Key): string {
  return (ConfigSchema.properties[k] as { description?: string }).description ?? k;
}
