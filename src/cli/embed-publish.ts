/**
 * newsrec embed --catalog-log: the news file embedded as usual into a temporary snapshot, then
 * published through the replicas' catalog log and written to --out as the catalog at the
 * stream sequence of its last upsert (src/catalog/replication/publish-snapshot.ts).
 */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { buildConfig } from "../config.ts";
import { embedNews, inputKey } from "../catalog/embed.ts";
import { publishThroughLog } from "../catalog/replication/publish-snapshot.ts";
import { readSnapshot } from "../catalog/snapshot.ts";
import { catalogOptions, type NewsMeta } from "../catalog/store.ts";
import { tokenSpecOf } from "../catalog/token-column.ts";
import { indexPhi, type Bundle } from "../model/bundle.ts";
import type { Encoders } from "../model/encoders.ts";
import { progress } from "./progress.ts";

interface Opts {
  news: string;
  model: string;
  out: string;
  batch: number;
  chunk: number;
  workers: number;
  catalogLog?: string;
  catalogStream?: string;
  base?: string;
  trim: boolean;
}

export async function publishEmbedded(o: Opts, items: NewsMeta[], enc: Encoders, bundle: Bundle, t0: number): Promise<void> {
  const config = buildConfig({
    model: o.model,
    catalogLog: o.catalogLog,
    ...(o.catalogStream ? { catalogStream: o.catalogStream } : {}),
    ...(o.base ? { snapshot: o.base } : {}),
  });
  const m = bundle.manifest;
  const opts = {
    ...catalogOptions({ ...config, maxAgeHours: 0 }, indexPhi(m), { indexWorkers: 0, indexShards: 1, indexLayout: "replicated" }),
    tokens: tokenSpecOf(m),
  };
  const tmp = `${o.out}.embedded-tmp`;
  const bar = progress("embedding", items.length);
  await embedNews(items, enc, {
    out: tmp,
    batch: o.batch,
    chunk: o.chunk,
    inFlight: o.workers * 2,
    inputKey: inputKey(o.news),
    catalog: opts,
    onProgress: (d) => bar.update(d),
  });
  bar.stop();
  const expect = { fingerprint: m.fingerprint, dimension: m.dimension };
  const embedded = readSnapshot(tmp, expect, opts, { graph: false });
  await embedded.loaded;
  const log = (l: string) => process.stderr.write(`newsrec embed: ${l}\n`);
  const r = await publishThroughLog({
    config,
    embedded: embedded.catalog,
    expect,
    catalog: opts,
    out: o.out,
    model: { name: m.name, version: m.version },
    inputKey: createHash("sha256").update(inputKey(o.news)).digest("hex").slice(0, 16),
    trim: o.trim,
    log,
  });
  await embedded.catalog.close();
  rmSync(tmp, { recursive: true, force: true });
  const total = (performance.now() - t0) / 1000;
  log(`wrote ${o.out}: ${r.manifest.items} news as of stream ${config.catalogStream} sequence ${r.lastSeq} in ${total.toFixed(1)} s`);
  process.stdout.write(
    `${JSON.stringify({ news: items.length, out: o.out, stream: config.catalogStream, sequence: r.lastSeq, baseSequence: r.baseSeq, published: { first: r.firstSeq, last: r.lastSeq, messages: r.messages }, trimmed: r.trimmed, seconds: Number(total.toFixed(2)) })}\n`,
  );
}
