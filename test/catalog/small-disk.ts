/**
 * A small, really full disk for tests: a 2 MiB tmpfs mounted for one test file (we run as
 * root; elsewhere the tests skip with the reason), and a filler that takes every byte.
 */
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SmallDisk {
  dir: string;
  mounted: boolean;
  why: string;
}

/** Mounts in the file's `before` and unmounts in its `after`. */
export function smallDisk(): SmallDisk {
  const disk: SmallDisk = { dir: mkdtempSync(join(tmpdir(), "newsrec-tmpfs-")), mounted: false, why: "" };
  before(() => {
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk.dir], { stdio: "pipe" });
      disk.mounted = true;
    } catch (err) {
      disk.why = `cannot mount a 2 MiB tmpfs (needs root): ${(err as Error).message.split("\n")[0]}`;
    }
  });
  after(() => {
    if (disk.mounted) execFileSync("umount", [disk.dir]);
    rmSync(disk.dir, { recursive: true, force: true });
  });
  return disk;
}

/** Writes until the file system refuses a single byte more. */
export function fill(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 7);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    closeSync(fd);
  }
}
