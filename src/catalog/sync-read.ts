/**
 * Synchronous reads of large files a chunk at a time, for loading a snapshot at start-up: a
 * file of hundreds of megabytes is never held whole in memory beside what is made of it.
 */
import { basename } from "node:path";
import { closeSync, openSync, readSync } from "node:fs";

/** Bytes read at a time. */
const CHUNK = 8 << 20;

/** Fills `into` from the start of a file, in chunks (no second copy of a large file in memory). */
export function readInto(path: string, into: Uint8Array): void {
  const fd = openSync(path, "r");
  try {
    for (let at = 0; at < into.length; ) {
      const n = readSync(fd, into, at, Math.min(CHUNK, into.length - at), at);
      if (n === 0) throw new Error(`${basename(path)} ended after ${at} bytes`);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A file's lines (split at each newline byte, without it; the last line needs no newline), read
 * `chunk` bytes at a time, each with its byte offset in the file: views of one buffer, valid
 * until the next line is asked for.
 */
export function* fileLineBytes(fd: number, chunk = CHUNK): Generator<{ at: number; line: Buffer }> {
  let buf = Buffer.allocUnsafe(chunk);
  let have = 0;
  // The file offset of buf[0].
  let base = 0;
  for (;;) {
    if (have === buf.length) {
      // A line longer than the buffer: room for it.
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, have);
      buf = bigger;
    }
    const n = readSync(fd, buf, have, buf.length - have, null);
    const end = have + n;
    let at = 0;
    for (let nl = buf.indexOf(10, at); nl >= 0 && nl < end; nl = buf.indexOf(10, at)) {
      yield { at: base + at, line: buf.subarray(at, nl) };
      at = nl + 1;
    }
    if (n === 0) {
      if (at < end) yield { at: base + at, line: buf.subarray(at, end) };
      return;
    }
    buf.copy(buf, 0, at, end);
    base += at;
    have = end - at;
  }
}
