/**
 * A snapshot folder rewritten in place (`newsrec embed --out` over an existing one, `newsrec
 * tune`): the new folder is written whole beside it, under a hidden temporary name, its manifest
 * last; then the old folder is renamed aside, the new one renamed into place, and the old one
 * removed. Two renames are not one atomic step, so a crash between them leaves no folder at the
 * path, only the two beside it; reading the path first finishes such a swap (recoverFolder): the
 * new folder, being complete, goes into place, or else the old one goes back.
 *
 * Temporary names: `.<name>.<kind>-<pid>-<ms>` for the new folder, that plus `.old` for the old.
 */
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncPath, fsyncPathSync } from "./disk.ts";

/** A hidden sibling of `dir` for a new folder written by `kind` ("tmp": a snapshot, "tune"). */
export function tempSibling(dir: string, kind: "tmp" | "tune"): string {
  return join(dirname(dir), `.${basename(dir)}.${kind}-${process.pid}-${Date.now()}`);
}

/** Puts the complete folder `tmp` (tempSibling) in the place of `dir`, the old one removed after; `onStep` before each step (crash tests). */
export async function swapFolder(tmp: string, dir: string, onStep: (step: string) => void = () => {}): Promise<void> {
  const parent = dirname(dir);
  if (existsSync(dir)) {
    const old = `${tmp}.old`;
    onStep("rename old folder aside");
    await rename(dir, old);
    onStep("rename new folder into place");
    await rename(tmp, dir);
    onStep("remove old folder");
    await rm(old, { recursive: true, force: true });
  } else {
    onStep("rename new folder into place");
    await rename(tmp, dir);
  }
  onStep("fsync parent folder");
  await fsyncPath(parent);
}

/** A new folder begun this long ago by a process that is gone is not being written any more. */
const ABANDONED_MS = 24 * 3600_000;

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Finishes a swap of `dir` that a crash interrupted: with no folder at `dir`, the newest complete
 * new folder beside it (one with its manifest) is renamed into place, or else the newest old one
 * back. Then old folders left beside it are removed (one is left only once its swap has put the
 * new folder in place), and so are new ones begun more than a day ago by a process not running
 * here (the folder may be on storage that another host writes too). Does nothing it cannot (a read-only
 * filesystem): reading the folder then fails as it would have.
 */
export function recoverFolder(dir: string): void {
  const parent = dirname(dir);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const pattern = new RegExp(`^\\.${literal(basename(dir))}\\.(?:tmp|tune)-(\\d+)-(\\d+)(\\.old)?$`);
  const left = names.flatMap((name) => {
    const m = pattern.exec(name);
    return m ? [{ path: join(parent, name), pid: Number(m[1]), ms: Number(m[2]), old: m[3] !== undefined }] : [];
  });
  if (!left.length) return;
  const newest = <T extends { ms: number }>(xs: T[]) => xs.sort((a, b) => b.ms - a.ms)[0];
  const complete = (p: string) => existsSync(join(p, "manifest.json"));
  try {
    if (!existsSync(dir)) {
      const back = newest(left.filter((x) => !x.old && complete(x.path))) ?? newest(left.filter((x) => x.old));
      if (!back) return;
      renameSync(back.path, dir);
      fsyncPathSync(parent);
    }
    for (const x of left)
      if (existsSync(x.path) && (x.old || (Date.now() - x.ms > ABANDONED_MS && !alive(x.pid)))) rmSync(x.path, { recursive: true, force: true });
  } catch {
    // Left as it is: reading the folder says what is wrong.
  }
}
