/**
 * Start-up of a replica of the catalog log: reach JetStream (creating the stream if missing),
 * load the newest usable base (bootstrap.ts), follow the stream from the base's next
 * sequence, and become ready only once every message the stream held at start is applied,
 * so a new or restarted replica never serves an older catalog than its neighbours. A replica
 * whose data dir did not hold that base saves it there as its first snapshot.
 */
import { hostname } from "node:os";
import type { Config } from "../../config.ts";
import type { Metrics } from "../../metrics.ts";
import type { Encoders } from "../../model/encoders.ts";
import type { Catalog, CatalogOptions } from "../store.ts";
import { loadBase } from "./bootstrap.ts";
import { LogFollower } from "./follower.ts";
import { NatsCatalogLog, type StreamState } from "./nats-log.ts";
import { ReplicatedWriter } from "./replicated-writer.ts";

/** How long a starting replica keeps trying to reach the catalog log before it gives up. */
const START_WAIT_MS = 30_000;

type Expect = { fingerprint: string; dimension: number };

async function retrying<T>(what: string, fn: () => Promise<T>, deadline: number, log: (l: string) => void): Promise<T> {
  let last = "";
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const msg = (err as Error).message;
      if (Date.now() >= deadline) throw new Error(`catalog log: ${what} failed for ${START_WAIT_MS / 1000} s: ${msg}`, { cause: err });
      if (msg !== last) log(`catalog log: ${what}: ${msg}; retrying`);
      last = msg;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function openReplicatedCatalog(
  config: Config,
  encoders: Encoders,
  metrics: Metrics,
  expect: Expect,
  opts: CatalogOptions,
  log: (l: string) => void,
): Promise<{ catalog: Catalog; writer: ReplicatedWriter }> {
  const servers = config.catalogLog!.split(",");
  const stream = config.catalogStream;
  const deadline = Date.now() + START_WAIT_MS;
  let writer: ReplicatedWriter | null = null;
  let loaded: Catalog | null = null;
  const natsLog = await retrying(
    `reaching ${servers.join(",")}`,
    () =>
      NatsCatalogLog.open(
        {
          servers,
          stream,
          replicas: config.catalogReplicas,
          maxBytes: config.catalogLogMaxBytes,
          apiTimeoutMs: Math.min(1000, config.catalogLogTimeoutMs),
          name: `newsrec ${hostname()} ${process.pid}`,
          onStatus: (event, detail) => writer?.connectionChanged(event, detail),
        },
        config.catalogLogTimeoutMs,
      ),
    deadline,
    log,
  );
  try {
    const st: StreamState = await retrying(`reading stream ${stream}`, () => natsLog.state(), deadline, log);
    log(`catalog log: stream ${stream} on ${natsLog.serverName} holds sequences ${st.firstSeq}..${st.lastSeq}`);
    const base = await loadBase(config, expect, opts, { ...st, name: stream }, log);
    loaded = base.catalog;
    const follower = new LogFollower(base.catalog, expect, base.seq, () => writer?.refreshGauges());
    const m = encoders.bundle.manifest;
    writer = new ReplicatedWriter(
      base.catalog,
      encoders,
      metrics,
      natsLog,
      follower,
      {
        stream,
        created: st.created,
        timeoutMs: config.catalogLogTimeoutMs,
        ...(config.dataDir ? { dataDir: config.dataDir } : {}),
        hnsw: base.hnsw,
        model: { name: m.name, version: m.version },
        compactIntervalSeconds: config.compactIntervalSeconds,
        log,
      },
      base.ownSnapshot ? base.seq : -1,
    );
    writer.start();
    const t0 = performance.now();
    await follower.until(st.lastSeq);
    if (st.lastSeq > base.seq) log(`catalog log: replayed ${st.lastSeq - base.seq} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (config.dataDir && !base.ownSnapshot) await writer.compact();
    writer.refreshGauges();
    return { catalog: base.catalog, writer };
  } catch (err) {
    if (writer) await writer.close({ snapshot: false });
    else await natsLog.close();
    // Index worker threads would keep a refused start from exiting.
    await loaded?.close();
    throw err;
  }
}
