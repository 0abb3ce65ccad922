/**
 * The write-ahead log: every catalog write is appended and fsynced before it is applied and
 * acknowledged (framing in wal-format.ts). It never acknowledges what is not on disk: a
 * short write is continued, and any write or fsync error cuts the file back to the end of
 * the last good record before the write fails, so later records never follow partial bytes.
 * When even the cut-back fails, appends are refused until one succeeds.
 */
import { constants, existsSync, ftruncateSync, fsyncSync, openSync, closeSync, readFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { NewsrecError } from "../errors.ts";
import { describeDiskError, errnoCode, fsyncPath, replaceAtomicallySync } from "./disk.ts";
import { encodeLog, scanWal, type WalRecord } from "./wal-format.ts";

export { decodeVector, encodeVector, walItem, type WalRecord } from "./wal-format.ts";

export interface WalContents {
  records: WalRecord[];
  /** Bytes cut off the end: a torn last record (a crash mid-append), never acknowledged. */
  droppedBytes: number;
  /** The log was in the framing before magic and header checksums, and was rewritten. */
  converted: boolean;
}

/** A log damaged before its tail: cutting there would drop acknowledged writes. */
export class WalDamagedError extends Error {
  constructor(path: string, start: number, end: number) {
    const dir = dirname(path);
    super(
      `write-ahead log ${path} is damaged at byte ${start} (bytes ${start}-${end} fail their checksums and intact records follow, so this is not a torn last write; nothing was cut). ` +
        `Inspect it with "newsrec wal check --data-dir ${dir}"; "newsrec wal repair --data-dir ${dir}" keeps every intact record and moves the damaged log aside`,
    );
    this.name = "WalDamagedError";
  }
}

/**
 * Reads every record for a restore. A torn tail is cut off the file (so new appends follow
 * good data); damage in the middle refuses, naming the offset and the recovery command. A
 * log in the old framing is rewritten in the current one, atomically.
 */
export function readWal(path: string): WalContents {
  if (!existsSync(path)) return { records: [], droppedBytes: 0, converted: false };
  const buf = readFileSync(path);
  const scan = scanWal(buf);
  const first = scan.damaged[0];
  if (first) throw new WalDamagedError(path, first.start, first.end);
  const records = scan.records.map((r) => r.record);
  const droppedBytes = scan.tornTail ? scan.tornTail.end - scan.tornTail.start : 0;
  if (scan.format === "legacy") {
    replaceAtomicallySync(path, encodeLog(records));
    return { records, droppedBytes, converted: true };
  }
  if (scan.tornTail) {
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, scan.tornTail.start);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return { records, droppedBytes, converted: false };
}

/** A write the log did not make durable; `errno` names the cause for metrics ("ENOSPC"). */
export class WalWriteError extends NewsrecError {
  constructor(
    readonly errno: string,
    message: string,
    /** Bytes the refused write needed. */
    readonly bytes: number,
    cause: unknown,
  ) {
    super("UNAVAILABLE", message, { cause });
  }
}

export class WriteAheadLog {
  /** Bytes past `good` may be on disk (a failed write that could not be cut back). */
  private dirty = false;
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    /** The end of the last durable record: the file's size whenever the log is healthy. */
    private good: number,
  ) {}

  static async open(path: string): Promise<WriteAheadLog> {
    const created = !existsSync(path);
    // Positional writes at the last good end, not O_APPEND: after a failure the next record
    // lands right after good data even before the cut-back is known to have worked.
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    if (created) await fsyncPath(dirname(path));
    return new WriteAheadLog(path, fh, (await fh.stat()).size);
  }

  get size(): number {
    return this.good;
  }

  /** One caller at a time: appends, the compaction's truncate and the health probe. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Appends records in one write and one fsync (a group commit) and resolves once they are
   * on disk. Rejects with a WalWriteError (UNAVAILABLE) when the disk does not take them; the
   * log is then as it was before the call.
   */
  append(records: WalRecord[]): Promise<void> {
    const data = encodeLog(records);
    return this.exclusive(async () => {
      try {
        await this.writeAtEnd(data);
      } catch (err) {
        throw this.refusal(err, data.length);
      }
      this.good += data.length;
    });
  }

  /**
   * Whether `bytes` more would be taken now: written at the end, fsynced, then cut off again.
   * A crash in between leaves zeros after the last record, which the reader drops as a torn
   * tail. Rejects with the disk's error.
   */
  probe(bytes: number): Promise<void> {
    return this.exclusive(async () => {
      await this.writeAtEnd(Buffer.alloc(bytes));
      await this.cutBack();
    });
  }

  /** Empties the log once a snapshot holds everything in it. */
  truncate(): Promise<void> {
    return this.exclusive(async () => {
      await this.fh.truncate(0);
      // From here the good end is 0: a cut-back must never extend the file to the old size.
      this.good = 0;
      this.dirty = true;
      await this.fh.datasync();
      this.dirty = false;
    });
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      if (this.dirty) await this.cutBack().catch(() => {});
      await this.fh.close();
    });
  }

  /** Every byte at the good end, then fsync; on any error, cut back before rethrowing. */
  private async writeAtEnd(data: Buffer): Promise<void> {
    if (this.dirty) await this.cutBack();
    this.dirty = true;
    try {
      let done = 0;
      while (done < data.length) {
        // A full disk or a file-size limit first shows as a short count: keep going until
        // the rest is written or the kernel names the error.
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, this.good + done);
        if (bytesWritten === 0) throw Object.assign(new Error("the disk took no bytes"), { code: "EIO" });
        done += bytesWritten;
      }
      await this.fh.datasync();
    } catch (err) {
      await this.cutBack().catch(() => {});
      throw err;
    }
    this.dirty = false;
  }

  private async cutBack(): Promise<void> {
    await this.fh.truncate(this.good);
    await this.fh.datasync();
    this.dirty = false;
  }

  private refusal(err: unknown, bytes: number): WalWriteError {
    const where = basename(this.path);
    const after = this.dirty
      ? `cutting ${where} back to its last complete record also failed, so writes are refused until that succeeds`
      : `${where} was cut back to its last complete record, and writes resume once the disk takes them`;
    return new WalWriteError(errnoCode(err), `write not saved: ${describeDiskError(err)}; ${after} (reads go on)`, bytes, err);
  }
}
