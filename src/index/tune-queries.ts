/**
 * Queries for tuning the HNSW graph: real user vectors, made by the bundle's own user encoder
 * from histories of the catalog's own items, so the graph is measured on the queries it serves.
 *
 * Histories are cluster-coherent rather than uniform: a random seed item, then 10 to 50 items
 * drawn mostly (1 − NOISE) from the seed's POOL nearest neighbours by dot product and the rest
 * uniformly. Real users click within a few interests (the synthetic corpus uses the same 20%
 * off-interest share); a uniformly random history averages towards the catalog's centroid, a
 * query region that traffic rarely visits and whose recall says little about real queries.
 */
import { exactTopK } from "./exact.ts";
import { Random } from "../synth/random.ts";
import type { Encoders } from "../model/encoders.ts";

const POOL = 200;
const NOISE = 0.2;
export const HISTORY_MIN = 10;
export const HISTORY_MAX = 50;

export interface QuerySource {
  vectors: Float32Array;
  dim: number;
  /** Slots in use (histories are drawn from these only). */
  live: number[];
  isLive: (slot: number) => boolean;
  /** The title of a slot, for user encoders that read titles (siamese bundles). */
  title: (slot: number) => string;
}

/** The slots of one history, oldest first. */
export function sampleHistory(src: QuerySource, rng: Random): number[] {
  const seed = rng.pick(src.live);
  const near = exactTopK(src.vectors.subarray(seed * src.dim, (seed + 1) * src.dim), src.vectors, src.vectors.length / src.dim, POOL, src.isLive).map(
    (r) => r.slot,
  );
  const n = Math.min(rng.int(HISTORY_MIN, HISTORY_MAX), src.live.length);
  const picked = new Set<number>([seed]);
  // Bounded tries: a tiny catalog may not hold n distinct items of each kind.
  for (let tries = 0; picked.size < n && tries < 20 * n; tries++) picked.add(rng.chance(NOISE) ? rng.pick(src.live) : rng.pick(near));
  return [...picked];
}

/** `count` user vectors from the bundle's user encoder, deterministic for a seed. */
export async function sampleQueries(src: QuerySource, encoders: Encoders, count: number, seed: number): Promise<Float32Array[]> {
  const rng = new Random(seed);
  const byVectors = encoders.bundle.manifest.encoders.user.input === "news_vectors";
  const out: Float32Array[] = [];
  for (let q = 0; q < count; q++) {
    const h = sampleHistory(src, rng);
    const input = byVectors
      ? { kind: "vectors" as const, vectors: h.map((s) => src.vectors.subarray(s * src.dim, (s + 1) * src.dim)) }
      : { kind: "titles" as const, titlesNewestFirst: h.map(src.title).reverse() };
    out.push((await encoders.encodeUser(input)).vector);
  }
  return out;
}
