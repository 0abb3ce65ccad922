import type { Command } from "commander";
import { createApp, type App } from "../app.ts";
import { embedInto } from "../catalog/embed.ts";
import { readNewsFile } from "../catalog/newsfile.ts";
import { buildConfig } from "../config.ts";
import { readBehaviors, type Impression } from "../eval/behaviors.ts";
import { evaluate, type EvalResult } from "../eval/run.ts";
import type { NewsMeta } from "../catalog/store.ts";
import { intOption } from "./options.ts";
import { progress } from "./progress.ts";

interface EvalOptions {
  model: string;
  news?: string;
  behaviors: string;
  limit?: number;
  compare?: string;
  concurrency: number;
  workers: number;
}

async function runOne(
  model: string,
  news: NewsMeta[] | null,
  impressions: Impression[],
  o: EvalOptions,
  snapshot?: string,
): Promise<{ name: string; result: EvalResult }> {
  // With a snapshot, the catalog (and its fingerprint check) is the server's own startup path.
  const config = buildConfig({
    model,
    demoNews: 0,
    workers: o.workers,
    cacheMaxEntries: 100_000,
    logLevel: "warn",
    exactMaxItems: 0,
    ...(snapshot ? { snapshot } : {}),
  });
  const log = (l: string) => process.stderr.write(`newsrec eval: ${l}\n`);
  const app: App = await createApp(config, log);
  try {
    const m = app.encoders.bundle.manifest;
    const name = `${m.name} ${m.version}`;
    if (news) {
      const p1 = progress(`embedding news (${name})`, news.length);
      // Rerank scores exactly; the HNSW graph is not needed.
      await embedInto(app.catalog, app.encoders, news, 256, (d) => p1.update(d), false);
      p1.stop();
    }
    const p2 = progress(`ranking impressions (${name})`, impressions.length);
    const result = await evaluate(app.rank, impressions, { concurrency: o.concurrency, onProgress: (d) => p2.update(d) });
    p2.stop();
    return { name, result };
  } finally {
    await app.close();
  }
}

function table(rows: { name: string; result: EvalResult }[]): string {
  const keys = ["auc", "mrr", "ndcg5", "ndcg10"] as const;
  const lines = [`${"model".padEnd(32)} ${keys.map((k) => k.padStart(8)).join(" ")} ${"impressions".padStart(12)}`];
  for (const r of rows)
    lines.push(`${r.name.padEnd(32)} ${keys.map((k) => r.result[k].toFixed(4).padStart(8)).join(" ")} ${String(r.result.impressions).padStart(12)}`);
  if (rows.length === 2)
    lines.push(`${"difference (second - first)".padEnd(32)} ${keys.map((k) => (rows[1]!.result[k] - rows[0]!.result[k]).toFixed(4).padStart(8)).join(" ")}`);
  return `${lines.join("\n")}\n`;
}

export function evalCommand(program: Command): void {
  program
    .command("eval")
    .description("score MIND impressions through the serving path: AUC, MRR, nDCG@5, nDCG@10")
    .requiredOption("--model <dir>", "model bundle")
    .option("--news <file>", "news.tsv (MIND) or .jsonl, embedded with the model (or give --snapshot)")
    .requiredOption("--behaviors <file>", "behaviors.tsv (MIND)")
    .option("--snapshot <dir>", "a snapshot made by newsrec embed with the same model, instead of --news")
    .option("--limit <n>", "first N impressions only", intOption("--limit", 1, 1e9))
    .option("--compare <dir>", "a second bundle, evaluated side by side")
    .option("--concurrency <n>", "impressions in flight", intOption("--concurrency", 1, 4096), 64)
    .option("--workers <n>", "encoder worker threads", intOption("--workers", 1, 64), 1)
    .action(async (o: EvalOptions & { snapshot?: string }) => {
      if (!o.news === !o.snapshot) throw new Error("give exactly one of --news and --snapshot");
      if (o.snapshot && o.compare) throw new Error("--compare needs --news: a snapshot holds the vectors of one model only");
      const nf = o.news ? await readNewsFile(o.news) : { items: null, problems: [] };
      for (const p of nf.problems.slice(0, 10)) process.stderr.write(`${o.news}:${p.line}: skipped: ${p.reason}\n`);
      if (nf.items && !nf.items.length) throw new Error(`${o.news}: no usable news rows`);
      const bh = await readBehaviors(o.behaviors, o.limit);
      for (const p of bh.problems.slice(0, 10)) process.stderr.write(`${o.behaviors}:${p.line}: skipped: ${p.reason}\n`);
      const rows = [await runOne(o.model, nf.items, bh.impressions, o, o.snapshot)];
      if (o.compare) rows.push(await runOne(o.compare, nf.items, bh.impressions, o));
      process.stderr.write(table(rows));
      const r = rows[0]!.result;
      const out: Record<string, unknown> = { ...r, skipped: { ...r.skipped, badNewsRows: nf.problems.length, badBehaviorRows: bh.problems.length } };
      if (rows[1]) out.compare = rows[1].result;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    });
}
