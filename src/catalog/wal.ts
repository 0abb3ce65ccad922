/**
 * The write-ahead log: every catalog write is appended and fsynced before it is applied
 * and acknowledged. Record framing: u32 length, u32 CRC-32 of the payload, then the payload
 * (JSON). A torn or corrupt tail (a crash mid-append) is detected on open, reported, and cut
 * off; everything before it replays.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import type { NewsMeta } from "./store.ts";

export type WalRecord =
  | { seq: number; op: "upsert"; items: { meta: NewsMeta; vector: string }[] }
  | { seq: number; op: "delete"; id: string };

const HEADER = 8;
const MAX_RECORD = 256 << 20;

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export function decodeVector(s: string): Float32Array {
  const b = Buffer.from(s, "base64");
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export interface WalContents {
  records: WalRecord[];
  /** Bytes cut off the end: a torn or corrupt last record. */
  droppedBytes: number;
}

/** Reads every whole record; cuts a torn tail off the file so new appends follow good data. */
export function readWal(path: string): WalContents {
  if (!existsSync(path)) return { records: [], droppedBytes: 0 };
  const buf = readFileSync(path);
  const records: WalRecord[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    // A record reaching past the end is a torn append: the crash came mid-write.
    if (len > MAX_RECORD || off + HEADER + len > buf.length) break;
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    let record: WalRecord | null = null;
    if (crc32(payload) === crc) {
      try {
        record = JSON.parse(payload.toString("utf8")) as WalRecord;
      } catch {
        record = null;
      }
    }
    if (!record) {
      // The last record may be torn; a bad record with good data after it is corruption, and
      // cutting there would drop acknowledged writes, so the server refuses to start instead.
      if (off + HEADER + len === buf.length) break;
      throw new Error(`write-ahead log ${path} is corrupt at byte ${off} (a record fails its checksum and more records follow); restore the data dir or move the log aside`);
    }
    records.push(record);
    off += HEADER + len;
  }
  const droppedBytes = buf.length - off;
  if (droppedBytes > 0) {
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, off);
    } finally {
      closeSync(fd);
    }
  }
  return { records, droppedBytes };
}

export class WriteAheadLog {
  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private bytes: number,
  ) {}

  static async open(path: string): Promise<WriteAheadLog> {
    const fh = await open(path, "a");
    return new WriteAheadLog(path, fh, existsSync(path) ? statSync(path).size : 0);
  }

  get size(): number {
    return this.bytes;
  }

  /**
   * Appends records in one write and one fsync (a group commit) and resolves once they are on
   * disk. Each record keeps its own frame. A process crash leaves a prefix of the write, so at
   * most a torn last record; after a power loss the disk may have kept later pages of an
   * unsynced write and not earlier ones, which the reader refuses as corruption naming the
   * file (none of that group was acknowledged, so moving the tail aside loses nothing).
   */
  async append(records: WalRecord[]): Promise<void> {
    const frames = records.map((r) => {
      const payload = Buffer.from(JSON.stringify(r), "utf8");
      const frame = Buffer.allocUnsafe(HEADER + payload.length);
      frame.writeUInt32LE(payload.length, 0);
      frame.writeUInt32LE(crc32(payload), 4);
      payload.copy(frame, HEADER);
      return frame;
    });
    const all = Buffer.concat(frames);
    await this.fh.write(all);
    await this.fh.datasync();
    this.bytes += all.length;
  }

  /** Empties the log once a snapshot holds everything in it. */
  async truncate(): Promise<void> {
    await this.fh.truncate(0);
    await this.fh.datasync();
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
