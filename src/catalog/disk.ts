/**
 * Durable file-system steps shared by the write-ahead log and the snapshots. A rename or a
 * new file is durable only once its directory is fsynced too; a file's bytes only once the
 * file is. An error's cause is named in the words an operator acts on (a full disk, a file
 * size limit), with its errno code for alerts.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";

/** The errno code of a failed file-system call ("ENOSPC"), or "EIO" when it has none. */
export function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : "EIO";
}

const CAUSES: Record<string, string> = {
  ENOSPC: "the data disk is full (ENOSPC)",
  EDQUOT: "the data disk quota is exhausted (EDQUOT)",
  EFBIG: "the write-ahead log reached the file-size limit (EFBIG)",
  EIO: "the data disk reported an I/O error (EIO)",
  EROFS: "the data disk is read-only (EROFS)",
  EACCES: "the data dir is not writable (EACCES)",
  EPERM: "the data dir is not writable (EPERM)",
};

export function describeDiskError(err: unknown): string {
  const code = errnoCode(err);
  return CAUSES[code] ?? `the data disk refused the write (${code}: ${(err as Error)?.message ?? String(err)})`;
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function fsyncPathSync(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function writeDurable(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves the old content or the new, never a
 * mix: a temporary sibling written and fsynced, renamed over, then the directory fsynced.
 */
export async function replaceAtomically(path: string, data: string | Uint8Array, onStep: (step: string) => void = () => {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  onStep("write pointer temp");
  await writeDurable(tmp, data);
  onStep("rename pointer");
  await rename(tmp, path);
  onStep("fsync data dir");
  await fsyncPath(dirname(path));
}

export function replaceAtomicallySync(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, "w");
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPathSync(dirname(path));
}
