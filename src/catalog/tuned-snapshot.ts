/**
 * Writes `newsrec tune`'s choice into a snapshot folder: a new manifest (hnsw.efSearch and the
 * tuned record) and, when the chosen M or efConstruction differ from the graphs', the graphs
 * built with them (as many as the snapshot had, split as its were). The folder is replaced whole, as `newsrec embed` writes it: a sibling folder
 * with the unchanged items, vectors and token ids hard-linked (copied where links are
 * impossible), the new files, the manifest last, then swapped in (folder-swap.ts). A crash
 * leaves the old snapshot or the new, found when the folder is next read.
 */
import { copyFile, link, mkdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { HnswIndex } from "../index/hnsw.ts";
import { fsyncPath, writeDurable } from "./disk.ts";
import { graphFiles, TOKENS, type SnapshotManifest, type TunedRecord } from "./snapshot.ts";
import { swapFolder, tempSibling } from "./folder-swap.ts";

async function carry(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
    await fsyncPath(to);
  }
}

export async function writeTunedSnapshot(
  dir: string,
  manifest: SnapshotManifest,
  choice: { m: number; efConstruction: number; efSearch: number },
  tuned: TunedRecord,
  /** The graphs built with the chosen M and efConstruction; null keeps the snapshot's own. */
  graphs: HnswIndex[] | null,
): Promise<SnapshotManifest> {
  // A sibling of the folder itself, whatever the path names it by ("." included).
  dir = resolve(dir);
  const tmp = tempSibling(dir, "tune");
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await carry(join(dir, "items.jsonl"), join(tmp, "items.jsonl"));
    await carry(join(dir, "vectors.f32"), join(tmp, "vectors.f32"));
    const kept = ["items.jsonl", "vectors.f32", ...(manifest.tokens ? [TOKENS] : [])];
    if (manifest.tokens) await carry(join(dir, TOKENS), join(tmp, TOKENS));
    const shards = graphs ? graphs.length : (manifest.hnsw.shards ?? 1);
    const names = graphFiles(shards);
    if (graphs)
      for (const [i, g] of graphs.entries()) {
        await g.write(join(tmp, names[i]!));
        await fsyncPath(join(tmp, names[i]!));
      }
    else for (const f of names) await carry(join(dir, f), join(tmp, f));
    const files: Record<string, number> = {};
    for (const f of [...kept, ...graphFiles(shards)]) files[f] = (await stat(join(tmp, f))).size;
    const next: SnapshotManifest = { ...manifest, hnsw: { ...choice, ...(shards > 1 ? { shards } : {}), phi: manifest.hnsw.phi, tuned }, files };
    await writeDurable(join(tmp, "manifest.json"), JSON.stringify(next, null, 2));
    await fsyncPath(tmp);
    await swapFolder(tmp, dir);
    return next;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
