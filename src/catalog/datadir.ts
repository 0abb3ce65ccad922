/**
 * The snapshots of a server's data dir. Each compaction writes a new versioned folder,
 * DATA/snapshots/<zero-padded lastSeq>-<time>/, and then replaces one pointer file,
 * DATA/CURRENT, atomically (temp file, fsync, rename, fsync dir): a crash at any step leaves
 * the pointer naming a whole snapshot, old or new. At start the pointer is followed, or,
 * when it is missing or names a broken folder, the newest complete folder is used. The
 * previous version is kept after a swap; older ones are pruned. Data dirs of the earlier
 * layout (DATA/snapshot/, swapped by two renames) are migrated.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fsyncPath, fsyncPathSync, replaceAtomically, replaceAtomicallySync } from "./disk.ts";
import { checkSnapshot, writeSnapshotFiles, type SnapshotInfo, type SnapshotManifest } from "./snapshot.ts";
import type { Catalog } from "./store.ts";

const POINTER = "CURRENT";
const SNAPSHOTS = "snapshots";
const LEGACY = "snapshot";
const TEMP = /\.tmp-/;

export interface DataDirState {
  /** The snapshot to load, or null when none is whole. */
  snapshot: { dir: string; manifest: SnapshotManifest } | null;
  /** No snapshot, no pointer and no log: the only data dir a server may seed. */
  empty: boolean;
  /** What is broken (a pointer naming a missing folder, an incomplete folder), for messages. */
  problems: string[];
  /** The highest lastSeq a snapshot of this data dir was written with, as its name says. */
  claimedSeq: number;
}

const seqOfName = (name: string): number => Number(/^(\d+)-/.exec(name)?.[1] ?? 0);

function folderName(lastSeq: number, taken: (name: string) => boolean): string {
  const base = `${String(lastSeq).padStart(12, "0")}-${new Date().toISOString().replace(/[-:.]/g, "")}`;
  let name = base;
  for (let i = 2; taken(name); i++) name = `${base}-${i}`;
  return name;
}

function complete(dir: string): { manifest: SnapshotManifest } | { problem: string } {
  try {
    return { manifest: checkSnapshot(dir) };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/** The folder CURRENT names (relative to the data dir), or null when there is no pointer. */
export function readPointer(dataDir: string): string | null {
  const p = join(dataDir, POINTER);
  if (!existsSync(p)) return null;
  return readFileSync(p, "utf8").trim();
}

/** Temporary files and folders of interrupted swaps, repairs and conversions. */
function removeLeftovers(dataDir: string, log: (l: string) => void): void {
  const gone: string[] = [];
  const sweep = (dir: string, keep: (name: string) => boolean) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (!TEMP.test(name) || keep(name)) continue;
      rmSync(join(dir, name), { recursive: true, force: true });
      gone.push(join(dir, name));
    }
  };
  // Old-layout temporaries that hold a whole snapshot are migration candidates, kept for now.
  sweep(dataDir, (name) => name.startsWith(`.${LEGACY}.tmp-`) && "manifest" in complete(join(dataDir, name)));
  sweep(join(dataDir, SNAPSHOTS), () => false);
  if (gone.length) log(`data dir: removed ${gone.length} leftover(s) of interrupted writes: ${gone.join(", ")}`);
}

/**
 * The earlier layout: DATA/snapshot/, or, after a crash between its two renames, only its
 * temporary folders. The whole one with the highest lastSeq moves into snapshots/ and the
 * pointer names it; nothing is removed unless a whole snapshot has been kept.
 */
function migrateLegacy(dataDir: string, newestSeq: number, log: (l: string) => void): void {
  const names = legacyNames(dataDir);
  if (!names.length) return;
  const whole = names
    .map((n) => ({ n, c: complete(join(dataDir, n)) }))
    .flatMap(({ n, c }) => ("manifest" in c ? [{ n, m: c.manifest }] : []))
    .sort((a, b) => b.m.lastSeq - a.m.lastSeq);
  const best = whole[0];
  if (!best) return; // a broken old snapshot: left for the operator, and named when the start refuses
  if (best.m.lastSeq >= newestSeq) {
    const snapshots = join(dataDir, SNAPSHOTS);
    const name = folderName(best.m.lastSeq, (n) => existsSync(join(snapshots, n)));
    renameSync(join(dataDir, best.n), join(snapshots, name));
    fsyncPathSync(snapshots);
    replaceAtomicallySync(join(dataDir, POINTER), Buffer.from(`${SNAPSHOTS}/${name}\n`));
    log(`data dir: migrated ${join(dataDir, best.n)} (lastSeq ${best.m.lastSeq}) to ${SNAPSHOTS}/${name}`);
  }
  for (const n of names) if (n !== best.n || best.m.lastSeq < newestSeq) rmSync(join(dataDir, n), { recursive: true, force: true });
  fsyncPathSync(dataDir);
}

function legacyNames(dataDir: string): string[] {
  return readdirSync(dataDir).filter((n) => n === LEGACY || n.startsWith(`.${LEGACY}.tmp-`));
}

function ensureSnapshotsFolder(dataDir: string): void {
  const snapshots = join(dataDir, SNAPSHOTS);
  if (existsSync(snapshots)) return;
  mkdirSync(snapshots);
  fsyncPathSync(dataDir);
}

/** Cleans up after interrupted writes, migrates the old layout, and finds the snapshot to load. */
export function prepareDataDir(dataDir: string, log: (l: string) => void): DataDirState {
  const snapshots = join(dataDir, SNAPSHOTS);
  removeLeftovers(dataDir, log);
  const folders = () =>
    existsSync(snapshots)
      ? readdirSync(snapshots)
          .filter((n) => !TEMP.test(n))
          .sort()
      : [];
  if (legacyNames(dataDir).length) {
    ensureSnapshotsFolder(dataDir);
    const newest = Math.max(-1, ...folders().map((n) => ("manifest" in complete(join(snapshots, n)) ? seqOfName(n) : -1)));
    migrateLegacy(dataDir, newest, log);
  }
  const problems: string[] = [];
  const names = folders();
  const pointer = readPointer(dataDir);
  let claimedSeq = Math.max(0, ...names.map(seqOfName));
  if (pointer !== null) {
    const name = pointer.startsWith(`${SNAPSHOTS}/`) ? pointer.slice(SNAPSHOTS.length + 1) : "";
    claimedSeq = Math.max(claimedSeq, seqOfName(name));
    const dir = join(snapshots, name);
    const c = name && !name.includes("/") ? complete(dir) : { problem: `it is not ${SNAPSHOTS}/<folder>` };
    if ("manifest" in c) return { snapshot: { dir, manifest: c.manifest }, empty: false, problems, claimedSeq };
    problems.push(`${POINTER} names "${pointer.slice(0, 200)}", which is not a whole snapshot (${c.problem})`);
  }
  for (const name of [...names].reverse()) {
    const dir = join(snapshots, name);
    const c = complete(dir);
    if ("manifest" in c) {
      log(`data dir: ${pointer === null ? `no ${POINTER}` : `${POINTER} is broken`}; using the newest whole snapshot ${SNAPSHOTS}/${name}`);
      return { snapshot: { dir, manifest: c.manifest }, empty: false, problems, claimedSeq };
    }
    problems.push(`${SNAPSHOTS}/${name} is not a whole snapshot (${c.problem})`);
  }
  const legacy = legacyNames(dataDir);
  for (const n of legacy) {
    const c = complete(join(dataDir, n));
    if ("problem" in c) problems.push(c.problem);
  }
  const empty = pointer === null && !names.length && !legacy.length && !existsSync(join(dataDir, "wal.log"));
  return { snapshot: null, empty, problems, claimedSeq };
}

/**
 * Writes the catalog as a new version and points CURRENT at it; then prunes all but it and
 * the version it replaces. `onStep` is called before each step (crash tests). On failure
 * (a full disk) the pointer and the versions it names are untouched and the new folder is
 * removed.
 */
export async function swapSnapshot(
  catalog: Catalog,
  dataDir: string,
  info: SnapshotInfo,
  onStep: (step: string) => void = () => {},
): Promise<SnapshotManifest> {
  const snapshots = join(dataDir, SNAPSHOTS);
  onStep("create temporary folder");
  if (!existsSync(snapshots)) {
    await mkdir(snapshots, { recursive: true });
    await fsyncPath(dataDir);
  }
  const previous = readPointer(dataDir);
  const name = folderName(info.lastSeq, (n) => existsSync(join(snapshots, n)));
  const tmp = join(snapshots, `.tmp-${name}-${process.pid}`);
  const dir = join(snapshots, name);
  let pointed = false;
  try {
    await mkdir(tmp);
    const { manifest, items } = await writeSnapshotFiles(catalog, tmp, info, onStep);
    onStep("rename folder");
    await rename(tmp, dir);
    onStep("fsync snapshots folder");
    await fsyncPath(snapshots);
    await replaceAtomically(join(dataDir, POINTER), `${SNAPSHOTS}/${name}\n`, (step) => {
      if (step === "fsync data dir") pointed = true;
      onStep(step);
    });
    // Items read from a file are read from this snapshot's now (the catalog is as written: writes wait
    // for the swap), so an older one, perhaps a seed on shared storage that is replaced, is let go.
    catalog.readItemsFrom(join(dir, "items.jsonl"), items);
    onStep("prune");
    await prune(snapshots, [name, previous?.slice(SNAPSHOTS.length + 1) ?? ""]);
    return manifest;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (!pointed) await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** Removes every version but `keep`; without a previous pointer, the newest other one stays too. */
async function prune(snapshots: string, keep: string[]): Promise<void> {
  const names = (await readdir(snapshots)).filter((n) => !TEMP.test(n)).sort();
  const kept = new Set(keep.filter(Boolean));
  if (kept.size < 2) {
    const other = names.filter((n) => !kept.has(n)).pop();
    if (other) kept.add(other);
  }
  // Pruning is housekeeping: a failure here leaves an extra version for the next swap.
  await Promise.all(names.filter((n) => !kept.has(n)).map((n) => rm(join(snapshots, n), { recursive: true, force: true }).catch(() => {})));
}
