/**
 * Batch precompute: news file → tokenizer → news encoder (batched, several batches in flight
 * so tokenizing and indexing on this thread overlap inference in the workers) → catalog →
 * snapshot. Finished chunks are kept in OUT.partial/, so a rerun after an interruption
 * resumes instead of starting over.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Encoders } from "../model/encoders.ts";
import { Catalog, type CatalogOptions, type NewsMeta } from "./store.ts";
import { writeSnapshot, type SnapshotManifest } from "./snapshot.ts";

export interface EmbedOptions {
  out: string;
  batch: number;
  /** Items per resumable chunk. */
  chunk: number;
  inFlight: number;
  inputKey: string;
  catalog: CatalogOptions;
  onProgress?: (done: number) => void;
}

export interface EmbedResult {
  manifest: SnapshotManifest;
  resumedItems: number;
  seconds: { encodeAndIndex: number; index: number; write: number; total: number };
}

function loadChunk(path: string, n: number, dim: number): Float32Array[] | null {
  try {
    const b = readFileSync(path);
    if (b.byteLength !== n * dim * 4) return null;
    const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    return Array.from({ length: n }, (_, i) => all.subarray(i * dim, (i + 1) * dim));
  } catch {
    return null;
  }
}

export async function embedNews(items: NewsMeta[], encoders: Encoders, o: EmbedOptions): Promise<EmbedResult> {
  const t0 = performance.now();
  const dim = encoders.dim;
  const fp = encoders.bundle.manifest.fingerprint;
  const partial = `${o.out}.partial`;
  const key = JSON.stringify({ fp, input: o.inputKey, chunk: o.chunk, n: items.length });
  const statePath = join(partial, "state.json");
  if (existsSync(partial) && (!existsSync(statePath) || readFileSync(statePath, "utf8") !== key)) rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  writeFileSync(statePath, key);

  const catalog = new Catalog(dim, fp, o.catalog, Math.max(items.length, 16));
  try {
    return await encodeAndIndex(catalog, items, encoders, o, { t0, partial });
  } finally {
    await catalog.close();
  }
}

/** embedNews once its catalog exists: the graphs are built in the index workers while later batches encode. */
async function encodeAndIndex(
  catalog: Catalog,
  items: NewsMeta[],
  encoders: Encoders,
  o: EmbedOptions,
  { t0, partial }: { t0: number; partial: string },
): Promise<EmbedResult> {
  const dim = encoders.dim;
  let resumedItems = 0;
  let encodeS = 0;
  let indexS = 0;
  let done = 0;
  for (let start = 0; start < items.length; start += o.chunk) {
    const chunkItems = items.slice(start, start + o.chunk);
    const path = join(partial, `chunk-${String(start).padStart(10, "0")}.f32`);
    const resumed = loadChunk(path, chunkItems.length, dim);
    if (resumed) {
      resumedItems += chunkItems.length;
      const ti = performance.now();
      // Token ids are not kept in the chunks: tokenizing again is cheap next to encoding.
      chunkItems.forEach((n, i) => catalog.upsert(n, resumed[i]!, true, encoders.clickTokens(n)));
      indexS += (performance.now() - ti) / 1000;
      o.onProgress?.(done + resumedItems);
      continue;
    }
    const te = performance.now();
    const vectors: Float32Array[] = new Array(chunkItems.length);
    const ready: boolean[] = [];
    let indexed = 0; // items of this chunk already in the catalog, in order
    // Index finished batches in input order while later batches are still in the workers.
    const indexReady = () => {
      const ti = performance.now();
      while (indexed < chunkItems.length && ready[Math.floor(indexed / o.batch)]) {
        const n = chunkItems[indexed]!;
        catalog.upsert(n, vectors[indexed]!, true, encoders.clickTokens(n));
        indexed++;
      }
      indexS += (performance.now() - ti) / 1000;
    };
    const pending = new Set<Promise<void>>();
    for (let b = 0; b < chunkItems.length; b += o.batch) {
      const slice = chunkItems.slice(b, b + o.batch);
      const ids = slice.map((n) => encoders.tokenizer.news(n));
      const p: Promise<void> = encoders.encodeNewsBatch(ids).then((vs) => {
        vs.forEach((v, i) => (vectors[b + i] = v));
        ready[b / o.batch] = true;
        done += slice.length;
        o.onProgress?.(done + resumedItems);
        pending.delete(p);
      });
      pending.add(p);
      if (pending.size >= o.inFlight) {
        await Promise.race(pending);
        indexReady();
      }
    }
    await Promise.all(pending);
    indexReady();
    encodeS += (performance.now() - te) / 1000;
    const flat = new Float32Array(chunkItems.length * dim);
    vectors.forEach((v, i) => flat.set(v, i * dim));
    writeFileSync(`${path}.tmp`, new Uint8Array(flat.buffer));
    renameSync(`${path}.tmp`, path);
  }
  const tw = performance.now();
  const m = encoders.bundle.manifest;
  const total = (performance.now() - t0) / 1000;
  const manifest = await writeSnapshot(catalog, o.out, {
    model: { name: m.name, version: m.version },
    lastSeq: 0,
    hnsw: { m: o.catalog.m, efConstruction: o.catalog.efConstruction },
    timings: { encodeAndIndexSeconds: encodeS, indexSeconds: indexS, totalSeconds: total, batch: o.batch, resumedItems },
  });
  const writeS = (performance.now() - tw) / 1000;
  rmSync(partial, { recursive: true, force: true });
  return { manifest, resumedItems, seconds: { encodeAndIndex: encodeS, index: indexS, write: writeS, total: (performance.now() - t0) / 1000 } };
}

/** Identifies an input file's version, so stale partial chunks are never reused. */
export function inputKey(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

/** Embeds items into a live catalog in fixed batches straight through the worker pool (demo catalog, eval). */
export async function embedInto(
  catalog: Catalog,
  encoders: Encoders,
  items: NewsMeta[],
  batch = 256,
  onProgress?: (done: number) => void,
  indexIt = true,
): Promise<void> {
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const vecs = await encoders.encodeNewsBatch(chunk.map((n) => encoders.tokenizer.news(n)));
    chunk.forEach((n, j) => catalog.upsert(n, vecs[j]!, indexIt, encoders.clickTokens(n)));
    onProgress?.(Math.min(i + batch, items.length));
  }
}
