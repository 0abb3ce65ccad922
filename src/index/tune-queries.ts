/**
 * Queries for tuning the HNSW graph: real user vectors, made by the bundle's own user encoder
 * from histories of the catalog's own items, so the graph is measured on the queries it serves.
 *
 * Histories are cluster-coherent rather than uniform: one to three interests, each a random seed
 * item, then 10 to 50 items drawn mostly (1 − NOISE) from the POOL nearest neighbours by dot
 * product of a random interest's seed, the rest uniformly. That is the synthetic corpus's own
 * user model (src/synth/corpus.ts: 1 to 3 interest categories, 20% off-interest clicks), and
 * real users click within a few interests too. A single interest would be too easy: its true
 * top-k sits in one cluster, while a user of two or three interests has it spread over several,
 * which is where a graph misses.
 *
 * "uniform" histories (10 to 50 items drawn uniformly, as benchmarks/recall.ts draws them) are
 * the pessimistic bound: such a user vector averages many unrelated clusters and its true top-k
 * lies scattered among them, so the same graph finds less of it (benchmarks/RESULTS.md).
 *
 * Each user keeps its history, which recall is measured without: /rank leaves a user's clicks out of
 * a retrieve by default, and they are among the items nearest the user's vector, the easiest for a
 * graph to find, so counting them would overstate the recall users get.
 */
import { exactTopK } from "./exact.ts";
import { Random } from "../synth/random.ts";
import { historyInput, type Encoders, type HistorySource } from "../model/encoders.ts";

const POOL = 500;
const INTERESTS = 3;
const NOISE = 0.2;
export const HISTORY_MIN = 10;
export const HISTORY_MAX = 50;
export type HistoryModel = "coherent" | "uniform";
/** How the histories are drawn, as the tuned record names it. */
export const HISTORIES: Record<HistoryModel, string> = {
  coherent: `cluster-coherent: ${HISTORY_MIN}-${HISTORY_MAX} items, 1-${INTERESTS} interests (${POOL} nearest items of a seed each), ${NOISE * 100}% anywhere; left out of the results`,
  uniform: `uniform: ${HISTORY_MIN}-${HISTORY_MAX} items drawn uniformly; left out of the results`,
};

export interface QuerySource {
  vectors: Float32Array;
  dim: number;
  /** Slots in use (histories are drawn from these only). */
  live: number[];
  isLive: (slot: number) => boolean;
  /** The title of a slot, for user encoders that read titles (siamese bundles). */
  title: (slot: number) => string;
  /** The token ids the catalog keeps of a slot, for user encoders that read them (FUM bundles). */
  tokens?: (slot: number) => ArrayLike<number> | null;
}

/** The slots of one history, oldest first. */
export function sampleHistory(src: QuerySource, rng: Random, model: HistoryModel = "coherent"): number[] {
  if (model === "uniform") {
    const n = Math.min(rng.int(HISTORY_MIN, HISTORY_MAX), src.live.length);
    const picked = new Set<number>();
    for (let tries = 0; picked.size < n && tries < 20 * n; tries++) picked.add(rng.pick(src.live));
    return [...picked];
  }
  const rows = src.vectors.length / src.dim;
  const seeds = Array.from({ length: rng.int(1, INTERESTS) }, () => rng.pick(src.live));
  const pools = seeds.map((seed) =>
    exactTopK(src.vectors.subarray(seed * src.dim, (seed + 1) * src.dim), src.vectors, rows, POOL, src.isLive).map((r) => r.slot),
  );
  const n = Math.min(rng.int(HISTORY_MIN, HISTORY_MAX), src.live.length);
  const picked = new Set<number>(seeds.slice(0, n));
  // Bounded tries: a tiny catalog may not hold n distinct items of each kind.
  for (let tries = 0; picked.size < n && tries < 20 * n; tries++) picked.add(rng.chance(NOISE) ? rng.pick(src.live) : rng.pick(rng.pick(pools)));
  // The order a user clicked in is unknown; shuffled, so the seeds do not always come first.
  const h = [...picked];
  for (let i = h.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [h[i], h[j]] = [h[j]!, h[i]!];
  }
  return h;
}

/** A sampled user: the vector of the bundle's user encoder, and the history it was encoded from. */
export interface UserQuery {
  vector: Float32Array;
  /** The clicked slots, which /rank leaves out of a retrieve's results by default (excludeHistory). */
  history: number[];
}

/** `count` users from the bundle's user encoder, deterministic for a seed. */
export async function sampleQueries(src: QuerySource, encoders: Encoders, count: number, seed: number, model: HistoryModel = "coherent"): Promise<UserQuery[]> {
  const rng = new Random(seed);
  // The user encoder's input as the rank service builds it, by the bundle's user input kind.
  const history: HistorySource = {
    vectorAt: (s) => src.vectors.subarray(s * src.dim, (s + 1) * src.dim),
    metaAt: (s) => ({ title: src.title(s) }),
    tokensAt: (s) => src.tokens?.(s) ?? null,
  };
  const out: UserQuery[] = [];
  for (let q = 0; q < count; q++) {
    const h = sampleHistory(src, rng, model);
    out.push({ vector: (await encoders.encodeUser(historyInput(encoders.bundle.manifest, h, history))).vector, history: h });
  }
  return out;
}
