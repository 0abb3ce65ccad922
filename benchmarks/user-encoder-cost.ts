/**
 * Serving cost per architecture: hierarchical (NRMS), siamese (PUNR-style text encoder) and FUM
 * bundles of one dimension, trained by models/training/train.py on one synthetic corpus.
 *
 * 1. The user encoder alone in onnxruntime-node (one session per bundle on this thread, 1 intra-op
 *    thread as the server's default), at batch 1 and 32: users of 50 clicks of the corpus' news,
 *    fed as the server feeds them (news vectors; the titles' ids, newest first, cut to the user
 *    length; FUM's news vectors plus the token ids of the last tokens.maxNews clicks). The bundles
 *    take turns run by run, so that load from elsewhere falls on all of them alike.
 * 2. Cache-miss POST /rank throughput on a server per bundle with BENCH_NEWS (100,000) demo news:
 *    a retrieve (k 10) and a rerank of 20 candidates, each with a new user id and a random history
 *    of 50, BENCH_SECONDS (10) each with BENCH_CONNECTIONS (16).
 *
 * BENCH_DIM (64), BENCH_RUNS (300 timed runs per bundle and batch), BENCH_BUNDLES (a folder with
 * hierarchical/, siamese/ and fum/ bundles to reuse; else they are trained: one epoch each on a 2,000-news corpus).
 * Run: node --import tsx benchmarks/user-encoder-cost.ts
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { readNewsFile } from "../src/catalog/newsfile.ts";
import { loadBundle, type Bundle } from "../src/model/bundle.ts";
import { openSession, runSession, type Feed } from "../src/model/onnx.ts";
import { TextTokenizer } from "../src/model/tokenizer.ts";
import { builtCli, env, load, prng, ROOT, startChild, type LoadResult } from "./lib.ts";

const DIM = env("BENCH_DIM", 64);
const RUNS = env("BENCH_RUNS", 300);
const NEWS = env("BENCH_NEWS", 100_000);
const CONNECTIONS = env("BENCH_CONNECTIONS", 16);
const HISTORY = 50;
const ARCHS = ["hierarchical", "siamese", "fum"] as const;
type Arch = (typeof ARCHS)[number];
const PY = process.env.NEWSREC_PYTHON ?? "/usr/bin/python3";
const cli = builtCli();
const work = mkdtempSync(join(tmpdir(), "user-encoder-cost-"));
const log = (l: string) => process.stderr.write(`${l}\n`);
const load1 = () => loadavg()[0]!.toFixed(2);

try {
  const corpus = join(work, "corpus");
  execFileSync(process.execPath, [cli, "synth", "--out", corpus, "--news", "2000", "--users", "400", "--entities", "30", "--seed", "11"], { stdio: "ignore" });
  const dirs = {} as Record<Arch, string>;
  for (const arch of ARCHS) {
    const given = process.env.BENCH_BUNDLES && join(process.env.BENCH_BUNDLES, arch);
    if (given && existsSync(given)) {
      dirs[arch] = given;
      continue;
    }
    dirs[arch] = join(work, arch);
    const t0 = performance.now();
    execFileSync(
      PY,
      [
        join(ROOT, "models/training/train.py"),
        ...["--train", join(corpus, "train"), "--valid", join(corpus, "valid"), "--out", dirs[arch]],
        ...["--arch", arch, "--epochs", "1", "--dim", String(DIM), "--seed", "7", "--threads", "1"],
      ],
      { stdio: "ignore" },
    );
    log(`trained ${arch} (dim ${DIM}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const bundles = Object.fromEntries(ARCHS.map((a) => [a, loadBundle(dirs[a])])) as Record<Arch, Bundle>;
  for (const a of ARCHS) if (bundles[a].manifest.dimension !== DIM) throw new Error(`${dirs[a]} has dimension ${bundles[a].manifest.dimension}, not ${DIM}`);

  // Users: 50 clicks each, drawn from the corpus' news.
  const { items } = await readNewsFile(join(corpus, "train", "news.tsv"));
  const rand = prng(5);
  const users = Array.from({ length: 32 }, () => Array.from({ length: HISTORY }, () => items[Math.floor(rand() * items.length)]!));
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

  function feedsFor(b: Bundle, batch: number): Record<string, Feed> {
    const m = b.manifest;
    const user = m.encoders.user;
    const tok = new TextTokenizer(b.tokenizerJson, m);
    const us = users.slice(0, batch);
    const int64 = (rows: ArrayLike<number>[][], n: number, t: number) => {
      const ids = new BigInt64Array(rows.length * n * t);
      const mask = new BigInt64Array(rows.length * n * t);
      rows.forEach((u, i) =>
        u.forEach((r, j) => {
          for (let k = 0; k < r.length; k++) {
            ids[(i * n + j) * t + k] = BigInt(r[k]!);
            mask[(i * n + j) * t + k] = 1n;
          }
        }),
      );
      return { ids, mask };
    };
    if (user.input === "history_titles") {
      const rows = us.map((u) => [tok.userTitles(u.map((n) => n.title).reverse())]);
      const t = Math.max(...rows.map((r) => r[0]!.length));
      const { ids, mask } = int64(rows, 1, t);
      return { [user.inputs.ids]: { kind: "int64", data: ids, dims: [batch, t] }, [user.inputs.mask]: { kind: "int64", data: mask, dims: [batch, t] } };
    }
    const feeds: Record<string, Feed> = {
      [user.inputs.vectors]: { kind: "float32", data: Float32Array.from({ length: batch * HISTORY * DIM }, gauss), dims: [batch, HISTORY, DIM] },
      [user.inputs.mask]: { kind: "float32", data: new Float32Array(batch * HISTORY).fill(1), dims: [batch, HISTORY] },
    };
    if (user.input === "news_tokens_and_vectors") {
      const rows = us.map((u) => u.slice(-user.tokens.maxNews).map((n) => tok.clickedNews(n)!));
      const t = Math.max(...rows.flat().map((r) => r.length));
      const n = user.tokens.maxNews;
      const { ids, mask } = int64(rows, n, t);
      feeds[user.inputs.tokenIds] = { kind: "int64", data: ids, dims: [batch, n, t] };
      feeds[user.inputs.tokenMask] = { kind: "int64", data: mask, dims: [batch, n, t] };
    }
    return feeds;
  }

  const sessions = await Promise.all(
    ARCHS.map(
      async (a) =>
        (await openSession(bundles[a].userEncoderBytes, bundles[a].manifest.encoders.user.file, { providers: ["cpu"], intraOpThreads: 1, log })).session,
    ),
  );
  const q = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const latency: Record<string, { p50: number; p99: number; shape: string }> = {};
  const loadBefore = load1();
  for (const batch of [1, 32]) {
    const feeds = ARCHS.map((a) => feedsFor(bundles[a], batch));
    const outputs = ARCHS.map((a) => [bundles[a].manifest.encoders.user.outputs.vector]);
    const times: number[][] = ARCHS.map(() => []);
    for (let r = -30; r < RUNS; r++) {
      for (let i = 0; i < ARCHS.length; i++) {
        const t0 = performance.now();
        await runSession(sessions[i]!, feeds[i]!, outputs[i]!);
        if (r >= 0) times[i]!.push(performance.now() - t0);
      }
    }
    ARCHS.forEach((a, i) => {
      const shape = Object.entries(feeds[i]!)
        .map(([k, f]) => `${k} [${f.dims.join(", ")}]`)
        .join(", ");
      latency[`${a}/${batch}`] = { p50: q(times[i]!, 0.5), p99: q(times[i]!, 0.99), shape };
    });
  }
  for (const s of sessions) await s.release();
  const loadAfterEncoders = load1();

  // Cache-miss /rank throughput, one server per bundle.
  const newsId = () => `N${1 + Math.floor(rand() * NEWS)}`;
  let seq = 0;
  const retrieve = () => JSON.stringify({ userId: `miss${seq++}`, history: Array.from({ length: HISTORY }, newsId), k: 10 });
  const rerank = () =>
    JSON.stringify({ userId: `miss${seq++}`, history: Array.from({ length: HISTORY }, newsId), candidates: Array.from({ length: 20 }, newsId), k: 20 });
  const requests = (body: () => string) => [
    { method: "POST" as const, path: "/rank", headers: { "content-type": "application/json" }, setupRequest: (req: any) => ({ ...req, body: body() }) },
  ];
  const rank: Record<string, { retrieve: LoadResult; rerank: LoadResult; startS: number }> = {};
  for (const a of ARCHS) {
    const t0 = performance.now();
    const server = await startChild(["serve", "--model", dirs[a], "--port", "0", "--grpc-port", "0", "--demo-news", String(NEWS), "--log-level", "warn"]);
    const startS = (performance.now() - t0) / 1000;
    // The index workers build the graph after the server is up; the first search waits for it, and
    // nothing is measured before it is built (the build would otherwise share the cores with the load).
    const tg = performance.now();
    for (let ok = 0; ok < 20; ) {
      // A connection held that long may be closed by the server: asked again until answered.
      const res = await fetch(`${server.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: retrieve() }).catch(() => null);
      if (res?.status === 200) ok++;
      else if (res) throw new Error(`${a}: warm-up retrieve answered ${res.status}: ${await res.text()}`);
      await res?.arrayBuffer().catch(() => {});
      if (performance.now() - tg > 600_000) throw new Error(`${a}: the graph was not searchable within 600 s`);
    }
    log(`${a}: server with ${NEWS} news ready in ${startS.toFixed(0)} s, its graph searchable ${((performance.now() - tg) / 1000).toFixed(0)} s later`);
    const r1 = await load({ url: server.url, connections: CONNECTIONS, requests: requests(retrieve) });
    const r2 = await load({ url: server.url, connections: CONNECTIONS, requests: requests(rerank) });
    await server.stop();
    rank[a] = { retrieve: r1, rerank: r2, startS };
  }

  const ratio = (a: Arch, key: string, of: "p50" | "p99") => (latency[`${a}/${key}`]![of] / latency[`hierarchical/${key}`]![of]).toFixed(2);
  const out = [
    `### User-encoder latency and cache-miss /rank throughput per architecture (dim ${DIM}, ${new Date().toISOString().slice(0, 10)})`,
    "",
    `onnxruntime-node, CPU, 1 intra-op thread, one session per bundle on one thread, ${RUNS} timed runs each (after 30), bundles in turn; users of ${HISTORY} clicks.`,
    `Load average (1 min) on the ${process.env.BENCH_CORES ?? "2"} cores: ${loadBefore} before, ${loadAfterEncoders} after the encoder runs, ${load1()} at the end.`,
    "",
    "| architecture | batch 1 p50 ms | p99 ms | vs NRMS (p50) | batch 32 p50 ms | p99 ms | vs NRMS (p50) | per user at 32, µs |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...ARCHS.map((a) => {
      const l1 = latency[`${a}/1`]!;
      const l32 = latency[`${a}/32`]!;
      return `| ${a} | ${l1.p50.toFixed(3)} | ${l1.p99.toFixed(3)} | ${ratio(a, "1", "p50")}x | ${l32.p50.toFixed(3)} | ${l32.p99.toFixed(3)} | ${ratio(a, "32", "p50")}x | ${((1000 * l32.p50) / 32).toFixed(0)} |`;
    }),
    "",
    ...ARCHS.map((a) => `- ${a} inputs at batch 32: ${latency[`${a}/32`]!.shape}`),
    "",
    `Cache-miss POST /rank, ${NEWS} demo news, ${CONNECTIONS} connections, ${env("BENCH_SECONDS", 10)} s each, a new user id and a random history of ${HISTORY} per request:`,
    "",
    "| architecture | retrieve k=10 req/s | p50 ms | p99 ms | vs NRMS | rerank 20 req/s | p50 ms | p99 ms | vs NRMS | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...ARCHS.map((a) => {
      const r = rank[a]!;
      const h = rank.hierarchical!;
      const errs = r.retrieve.errors + r.retrieve.non2xx + r.rerank.errors + r.rerank.non2xx;
      return `| ${a} | ${r.retrieve.rps.toFixed(0)} | ${r.retrieve.p50.toFixed(1)} | ${r.retrieve.p99.toFixed(1)} | ${(r.retrieve.rps / h.retrieve.rps).toFixed(2)}x | ${r.rerank.rps.toFixed(0)} | ${r.rerank.p50.toFixed(1)} | ${r.rerank.p99.toFixed(1)} | ${(r.rerank.rps / h.rerank.rps).toFixed(2)}x | ${errs} |`;
    }),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
