/**
 * The cache-hit hot path of /rank on the demo catalog against a bare fastify route answering
 * a constant body of the same size, and optionally against another checkout (the previous
 * commit from a worktree), all in one run. Besides throughput it reads each server's CPU time
 * per request from /proc, for its main thread and for all its threads: on a shared machine
 * throughput moves with whatever else runs, while CPU per request moves much less, and the
 * main thread's is what bounds one server's throughput. It also reads its own CPU per request:
 * the load generator runs here, on the same cores, and costs more per request of a slower
 * server (fewer answers per wake-up), so all three together bound the ratio to the bare route.
 *
 * This checkout's retrieves are answered from the answer kept for each cached user (the catalog is
 * not written during the run: rank/answer-reuse.ts). A second row serves them with no answer kept
 * (keptAnswersMaxBytes 0), so that each one searches, as a retrieve does when the catalog was written
 * since; a third reranks ten candidates for the same cached users: the hot path with no search.
 * Each row has a server of its own, so that their heaps and caches are alike.
 *
 * Rounds alternate the servers (bare, this checkout, the baseline, then again), so that drift
 * in the machine's load falls on all of them, each round starting one server later than the one
 * before (a server measured last in every round read 0.22 against 0.27 where swapping the two
 * trees gave 0.25 against 0.24); the table gives each one's median over rounds.
 *
 * BENCH_NEWS (5000), BENCH_SECONDS (5 per measurement), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (16), BENCH_BASELINE (a checkout of newsrec with its node_modules).
 * Run: node --import tsx benchmarks/hot-path.ts
 */
import { readdirSync, readFileSync } from "node:fs";
import autocannon from "autocannon";
import { builtCli, env, prng, startChild, type Child } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 5000);
const SECONDS = env("BENCH_SECONDS", 5);
const ROUNDS = env("BENCH_ROUNDS", 3);
const CONNECTIONS = env("BENCH_CONNECTIONS", 16);
const BASELINE = process.env.BENCH_BASELINE;
const rand = prng(42);
const users = Array.from({ length: 500 }, (_, i) => ({
  userId: `warm${i}`,
  history: Array.from({ length: 10 }, () => `N${1 + Math.floor(rand() * NEWS)}`),
  k: 10,
}));

/** CPU milliseconds of a process's threads: [main thread, all threads]. */
function cpu(pid: number): [number, number] {
  let all = 0;
  let main = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const f = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ms = (Number(f[11]) + Number(f[12])) * 10;
    all += ms;
    if (Number(t) === pid) main = ms;
  }
  return [main, all];
}

interface Sample {
  rps: number;
  mainUs: number;
  allUs: number;
  /** This process's CPU per request: the load generator's, which shares the machine's cores. */
  genUs: number;
  p99: number;
}

async function measure(c: Child, body: () => string, duration: number): Promise<Sample> {
  const pid = c.proc.pid!;
  const [m0, a0] = cpu(pid);
  const t0 = performance.now();
  const u0 = process.cpuUsage();
  const r = await autocannon({
    url: c.url,
    connections: CONNECTIONS,
    duration,
    requests: [{ method: "POST", path: "/rank", headers: { "content-type": "application/json" }, setupRequest: (req: any) => ({ ...req, body: body() }) }],
  });
  const seconds = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  const [m1, a1] = cpu(pid);
  if (r.errors || r.non2xx) throw new Error(`${r.errors} errors, ${r.non2xx} non-2xx answers`);
  const n = r.requests.total;
  return { rps: n / seconds, mainUs: ((m1 - m0) * 1000) / n, allUs: ((a1 - a0) * 1000) / n, genUs: (u.user + u.system) / n, p99: r.latency.p99 };
}

async function rankServer(root?: string, extra: string[] = []): Promise<Child> {
  const c = await startChild(
    ["serve", "--port", "0", "--grpc-port", "0", "--demo-news", String(NEWS), "--log-level", "warn", "--recall-sample-rate", "0", ...extra],
    root ? { script: builtCli(root) } : {},
  );
  for (const u of users) await fetch(`${c.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(u) });
  return c;
}

// Bodies are made once: the load generator shares the machine's cores with the servers.
const pick = (bodies: string[]) => () => bodies[Math.floor(rand() * bodies.length)]!;
const hit = pick(users.map((u) => JSON.stringify(u)));
// The same users reranking ten candidates each: the whole hot path (body, validation, history,
// cache, scoring, metadata, serialisation) but the search and its hand-off to the encoder worker.
const rerank = pick(users.map((u) => JSON.stringify({ ...u, candidates: Array.from({ length: 10 }, () => `N${1 + Math.floor(rand() * NEWS)}`) })));
const head = await rankServer();
const base = BASELINE ? await rankServer(BASELINE) : null;
const reranker = await rankServer();
// The same retrieves with no answer kept: each one searches (the exact graph in the encoder worker), as a
// retrieve does whenever the catalog was written since, or the user asks for the first time.
const searcher = await rankServer(undefined, ["--kept-answers-max-bytes", "0"]);
const sample = await (await fetch(`${head.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: hit() })).text();
const bare = await startChild([String(sample.length)], { script: new URL("./bare-server.ts", import.meta.url).pathname });

const targets: [string, Child, () => string][] = [
  ["bare", bare, () => "{}"],
  ["head", head, hit],
  ["searched", searcher, hit],
  // A server of its own: the rerank's load would otherwise leave its heap and caches to the retrieve's row.
  ["rerank", reranker, rerank],
  ...(base ? [["baseline", base, hit] as [string, Child, () => string]] : []),
];
const results: Record<string, Sample[]> = {};
for (const [, c, body] of targets) await measure(c, body, 1);
for (let round = 0; round < ROUNDS; round++)
  // Each round starts one server later: none is always measured first or last, after the same neighbour.
  for (const [name, c, body] of [...targets.slice(round % targets.length), ...targets.slice(0, round % targets.length)]) {
    (results[name] ??= []).push(await measure(c, body, SECONDS));
    process.stderr.write(`hot-path: round ${round + 1} ${name}: ${JSON.stringify(results[name]!.at(-1))}\n`);
  }
await Promise.all(targets.map(([, c]) => c.stop()));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const med = (name: string, f: keyof Sample) => median(results[name]!.map((s) => s[f]));
const ratio = (name: string) => median(results[name]!.map((s, i) => s.rps / results.bare![i]!.rps));
const LABELS: Record<string, string> = {
  head: "this checkout",
  searched: "this checkout, every retrieve searched (keptAnswersMaxBytes 0)",
  rerank: "this checkout, rerank of 10 candidates (no search)",
  baseline: `baseline (${BASELINE})`,
};
const rows = [
  `### Cache-hit hot path (${NEWS.toLocaleString("en")}-news demo catalog, history 10, k 10, ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds, ${new Date().toISOString().slice(0, 10)})`,
  "",
  "| server | req/s | vs bare (per round) | p99 ms | main-thread CPU µs / request | all threads CPU µs / request | load generator CPU µs / request |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...targets.map(
    ([name]) =>
      `| ${LABELS[name] ?? `bare fastify route, ${sample.length}-byte body`} | ${med(name, "rps").toFixed(0)} | ${name === "bare" ? "—" : ratio(name).toFixed(2)} | ${med(name, "p99").toFixed(0)} | ${med(name, "mainUs").toFixed(0)} | ${med(name, "allUs").toFixed(0)} | ${med(name, "genUs").toFixed(0)} |`,
  ),
];
console.log(rows.join("\n"));
