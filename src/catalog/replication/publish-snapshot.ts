/**
 * The embed job's side of the catalog log (newsrec embed --catalog-log). A snapshot that
 * replicas start from must be the catalog as of a stream sequence, so the job:
 *
 * 1. starts from the newest published snapshot (--base) and replays the stream after it;
 * 2. publishes the news it embedded to the stream as upserts (de-duplication ids derived from
 *    the input, so a rerun within JetStream's window stores nothing twice), which every
 *    running replica applies as it would an editor's write;
 * 3. applies the stream up to its last upsert and writes that catalog as the new snapshot,
 *    recording the sequence and the stream it belongs to;
 * 4. trims the stream below the base's sequence: the oldest snapshot still needed is the base
 *    (kept beside the new one as the fallback), and it holds everything before that.
 */
import type { Config } from "../../config.ts";
import { writeSnapshot, type SnapshotManifest } from "../snapshot.ts";
import type { Catalog, CatalogOptions } from "../store.ts";
import { loadBase } from "./bootstrap.ts";
import { LogFollower } from "./follower.ts";
import { encodeUpsert, FINGERPRINT_HEADER, FORMAT, FORMAT_HEADER } from "./log-message.ts";
import { NatsCatalogLog } from "./nats-log.ts";

export interface PublishOptions {
  config: Config;
  /** The news embedded from the input file. */
  embedded: Catalog;
  expect: { fingerprint: string; dimension: number };
  catalog: CatalogOptions;
  out: string;
  model: { name: string; version: string };
  /** Names the input (file and size), for de-duplication ids. */
  inputKey: string;
  trim: boolean;
  log: (l: string) => void;
}

export interface Published {
  manifest: SnapshotManifest;
  baseSeq: number;
  firstSeq: number;
  lastSeq: number;
  messages: number;
  trimmed: number;
}

export async function publishThroughLog(o: PublishOptions): Promise<Published> {
  const { config } = o;
  const stream = config.catalogStream;
  const natsLog = await NatsCatalogLog.open(
    {
      servers: config.catalogLog!.split(","),
      stream,
      replicas: config.catalogReplicas,
      maxBytes: config.catalogLogMaxBytes,
      apiTimeoutMs: config.catalogLogTimeoutMs,
      name: "newsrec embed",
      onStatus: (_e, detail) => o.log(detail),
    },
    config.catalogLogTimeoutMs,
  );
  let following: { stop(): void } | null = null;
  try {
    const st = await natsLog.state();
    if (st.noQuorum) throw new Error(`catalog log: ${st.noQuorum}`);
    const base = await loadBase({ ...config, dataDir: undefined, demoNews: 0 }, o.expect, o.catalog, { ...st, name: stream }, o.log);
    const follower = new LogFollower(base.catalog, o.expect, base.seq);
    following = natsLog.follow(
      base.seq + 1,
      (m) => follower.apply(m),
      (err) => o.log(err.message),
    );

    const items = [...o.embedded.entries()];
    const messages = encodeUpsert(
      items.map((e) => e.meta),
      items.map((e) => e.vector),
      natsLog.maxPayload,
      items.map((e) => e.tokens),
    );
    const headers = { [FORMAT_HEADER]: FORMAT, [FINGERPRINT_HEADER]: o.expect.fingerprint };
    let firstSeq = Number.POSITIVE_INFINITY;
    let lastSeq = 0;
    // A bounded window of publishes in flight: JetStream acknowledges them in order.
    const WINDOW = 64;
    for (let i = 0; i < messages.length; i += WINDOW) {
      const acks = await Promise.all(
        messages.slice(i, i + WINDOW).map((data, j) => natsLog.publish(data, `embed-${o.inputKey}-${i + j}`, headers, config.catalogLogTimeoutMs)),
      );
      for (const a of acks) {
        firstSeq = Math.min(firstSeq, a.seq);
        lastSeq = Math.max(lastSeq, a.seq);
      }
    }
    o.log(`catalog log: ${items.length} news published as ${messages.length} messages (sequences ${firstSeq}..${lastSeq})`);
    await follower.until(lastSeq);
    following.stop();
    following = null;
    const manifest = await follower.held(() =>
      writeSnapshot(base.catalog, o.out, { model: o.model, lastSeq, hnsw: base.hnsw, log: { stream, created: st.created } }),
    );
    let trimmed = 0;
    if (o.trim && base.seq > 0) {
      trimmed = await natsLog.trimBelow(base.seq + 1);
      o.log(`catalog log: trimmed ${trimmed} messages below sequence ${base.seq + 1} (all in the base snapshot)`);
    }
    await base.catalog.close();
    return { manifest, baseSeq: base.seq, firstSeq, lastSeq, messages: messages.length, trimmed };
  } finally {
    following?.stop();
    await natsLog.close();
  }
}
