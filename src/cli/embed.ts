import type { Command } from "commander";
import { cpus } from "node:os";
import { buildConfig } from "../config.ts";
import { GRAPH_ITEMS, graphsFor } from "../catalog/hnsw-settings.ts";
import { embedNews, inputKey } from "../catalog/embed.ts";
import { readNewsFile } from "../catalog/newsfile.ts";
import { catalogOptions, type NewsMeta } from "../catalog/store.ts";
import { tokenSpecOf } from "../catalog/token-column.ts";
import { indexPhi, loadBundle } from "../model/bundle.ts";
import { Encoders } from "../model/encoders.ts";
import { intOption } from "./options.ts";
import { progress } from "./progress.ts";
import { publishEmbedded } from "./embed-publish.ts";

const FIELDS = ["title", "abstract", "category", "subcategory"] as const;
type Field = (typeof FIELDS)[number];

interface EmbedOpts {
  news: string;
  model: string;
  out: string;
  batch: number;
  fields?: string;
  workers: number;
  threads: number;
  chunk: number;
  shards?: number;
  catalogLog?: string;
  catalogStream?: string;
  base?: string;
  trim: boolean;
}

export function embedCommand(program: Command): void {
  program
    .command("embed")
    .description("precompute news vectors and the HNSW index into a snapshot folder")
    .requiredOption("--news <file>", "news.tsv (MIND) or .jsonl")
    .requiredOption("--out <dir>", "snapshot folder to write (atomically)")
    .option("--model <dir>", "model bundle", buildConfig().model)
    .option("--batch <n>", "news per encoder run", intOption("--batch", 1, 8192), 256)
    .option("--fields <list>", "text fields to read (default: the bundle's own)")
    .option("--workers <n>", "encoder worker threads", intOption("--workers", 1, 64), Math.max(1, cpus().length - 1))
    .option("--threads <n>", "ONNX threads per worker", intOption("--threads", 1, 64), 1)
    .option(
      "--shards <n>",
      `graphs the catalog is split into (slot % shards), each built by its own index worker thread while news encode (default: one per ${GRAPH_ITEMS.toLocaleString("en")} news, or part of it)`,
      intOption("--shards", 1, 64),
    )
    .option("--chunk <n>", "news per resumable chunk (kept in OUT.partial until the snapshot is written)", intOption("--chunk", 1, 1e9), 50_000)
    .option("--catalog-log <urls>", "NATS JetStream servers of the replicas' catalog log: publish the news there and write the snapshot as of its sequence")
    .option("--catalog-stream <name>", "with --catalog-log: the stream (default: newsrec-catalog)")
    .option("--base <dir>", "with --catalog-log: the newest published snapshot, which the new one builds on (the stream is replayed after it)")
    .option("--no-trim", "with --catalog-log: keep the stream's messages below the base snapshot's sequence")
    .action(async (o: EmbedOpts) => {
      const bundle = loadBundle(o.model);
      const modelFields = bundle.manifest.newsInput.fields as Field[];
      let fields = modelFields;
      if (o.fields) {
        const asked = o.fields.split(",").map((f) => f.trim()) as Field[];
        const bad = asked.filter((f) => !FIELDS.includes(f));
        if (bad.length) throw new Error(`--fields: unknown field(s) ${bad.join(", ")}; use ${FIELDS.join(", ")}`);
        fields = asked;
        const missing = modelFields.filter((f) => !asked.includes(f));
        if (missing.length)
          process.stderr.write(`newsrec embed: note: the model was trained on ${modelFields.join(",")}; ${missing.join(",")} will be left empty\n`);
      }
      const t0 = performance.now();
      const nf = await readNewsFile(o.news);
      for (const p of nf.problems.slice(0, 20)) process.stderr.write(`${o.news}:${p.line}: skipped: ${p.reason}\n`);
      if (nf.problems.length > 20) process.stderr.write(`… and ${nf.problems.length - 20} more skipped rows\n`);
      if (!nf.items.length) throw new Error(`${o.news}: no usable news rows (${nf.problems.length} malformed)`);
      const items: NewsMeta[] =
        fields === modelFields
          ? nf.items
          : nf.items.map((n) => {
              const copy: NewsMeta = { ...n };
              for (const f of FIELDS) if (f !== "title" && !fields.includes(f)) delete copy[f];
              return copy;
            });
      const readS = (performance.now() - t0) / 1000;
      const cfg = buildConfig({ model: o.model });
      const shards = o.shards ?? graphsFor(items.length);
      const enc = await Encoders.open(bundle, {
        workers: o.workers,
        intraOpThreads: o.threads,
        providers: cfg.providers,
        maxBatch: o.batch,
        maxWaitMs: 0,
        maxQueue: 1 << 20,
        log: (l) => process.stderr.write(`newsrec embed: ${l}\n`),
      });
      try {
        if (o.catalogLog) return await publishEmbedded(o, items, enc, bundle, t0);
        const bar = progress("embedding", items.length);
        const r = await embedNews(items, enc, {
          out: o.out,
          batch: o.batch,
          chunk: o.chunk,
          inFlight: o.workers * 2,
          inputKey: inputKey(o.news),
          catalog: {
            ...catalogOptions({ ...cfg, maxAgeHours: 0 }, indexPhi(bundle.manifest), {
              indexWorkers: shards,
              indexShards: shards,
              indexLayout: "sharded",
            }),
            tokens: tokenSpecOf(bundle.manifest),
          },
          onProgress: (d) => bar.update(d),
        });
        bar.stop();
        const total = (performance.now() - t0) / 1000;
        process.stderr.write(
          `read ${nf.lines} lines: ${items.length} news embedded, ${nf.problems.length} skipped${r.resumedItems ? `, ${r.resumedItems} resumed from an earlier run` : ""}\n` +
            `wrote ${o.out} (fingerprint ${r.manifest.fingerprint.slice(0, 16)}) in ${total.toFixed(1)} s: read ${readS.toFixed(1)} s, encode+index ${r.seconds.encodeAndIndex.toFixed(1)} s, write ${r.seconds.write.toFixed(1)} s; ${(items.length / total).toFixed(0)} news/s\n`,
        );
        process.stdout.write(
          `${JSON.stringify({ news: items.length, skipped: nf.problems.length, resumed: r.resumedItems, seconds: Number(total.toFixed(2)), newsPerSecond: Math.round(items.length / total), out: o.out })}\n`,
        );
      } finally {
        await enc.close();
      }
    });
}
