/**
 * Why replicas should be picked by user id: user-cache hit ratio against replica count for
 * random routing and for consistent hashing on the user id, under a Zipf user distribution.
 * Each replica keeps an LRU of CACHE_PER_REPLICA user vectors (lru-cache, as the server).
 * BENCH_USERS (200000), BENCH_REQUESTS (2000000), BENCH_ZIPF (1.0), BENCH_CACHE (20000).
 * Run: node --import tsx benchmarks/routing-sim.ts
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { env, prng } from "./lib.ts";

const USERS = env("BENCH_USERS", 200_000);
const REQUESTS = env("BENCH_REQUESTS", 2_000_000);
const S = env("BENCH_ZIPF", 1.0);
const CACHE = env("BENCH_CACHE", 20_000);

// Zipf sampler by inverse CDF over precomputed cumulative weights.
const cdf = new Float64Array(USERS);
let acc = 0;
for (let i = 0; i < USERS; i++) cdf[i] = acc += 1 / (i + 1) ** S;
const rand = prng(11);
function user(): number {
  const x = rand() * acc;
  let lo = 0;
  let hi = USERS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A hash ring with virtual nodes, as a load balancer's ring-hash policy builds it. */
function ring(replicas: number, vnodes = 100): (key: number) => number {
  const points: { h: number; r: number }[] = [];
  const h32 = (s: string) => createHash("md5").update(s).digest().readUInt32BE(0);
  for (let r = 0; r < replicas; r++) for (let v = 0; v < vnodes; v++) points.push({ h: h32(`replica-${r}-${v}`), r });
  points.sort((a, b) => a.h - b.h);
  const memo = new Map<number, number>();
  return (key) => {
    let r = memo.get(key);
    if (r !== undefined) return r;
    const h = h32(`user-${key}`);
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid]!.h < h) lo = mid + 1;
      else hi = mid;
    }
    r = points[lo % points.length]!.r;
    memo.set(key, r);
    return r;
  };
}

const stream = Array.from({ length: REQUESTS }, user);
const lines = [
  `### User-cache hit ratio: random against user-affinity routing (${USERS} users, Zipf s=${S}, ${REQUESTS} requests, ${CACHE} cached users per replica)`,
  "",
  "| replicas | random routing | consistent hashing on user id |",
  "| ---: | ---: | ---: |",
];
for (const replicas of [1, 2, 4, 8, 16]) {
  const ratios = ["random", "affinity"].map((policy) => {
    const caches = Array.from({ length: replicas }, () => new LRUCache<number, true>({ max: CACHE }));
    const pick = policy === "random" ? () => Math.floor(rand() * replicas) : ring(replicas);
    let hits = 0;
    for (const u of stream) {
      const c = caches[pick(u)]!;
      if (c.get(u)) hits++;
      else c.set(u, true);
    }
    return hits / stream.length;
  });
  lines.push(`| ${replicas} | ${(100 * ratios[0]!).toFixed(1)}% | ${(100 * ratios[1]!).toFixed(1)}% |`);
}
console.log(lines.join("\n"));
