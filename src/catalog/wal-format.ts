/**
 * The write-ahead log's framing, and a reader that tells a torn tail from damage in the
 * middle. A record is
 *
 *   magic u32 | payload length u32 | CRC-32 of the payload u32 | CRC-32 of the 12 bytes before u32 | payload (JSON)
 *
 * The header has its own checksum, so a flipped bit in a length is caught before the length
 * is believed. The magic's first byte is 0xFF, which never occurs in UTF-8 JSON, so a payload
 * cannot pass for a record start, and after damage the reader can look for the next intact
 * record. Damage with an intact record after it is corruption, never a crash mid-append: it
 * is reported, never cut. Logs written before this framing (length, CRC, payload; no magic)
 * are still read.
 */
import { crc32 } from "node:zlib";
import type { NewsMeta } from "./store.ts";

/**
 * One upserted item: its metadata, its vector (base64 of little-endian float32) and, only for a
 * model whose user encoder reads the clicked news' token ids (FUM), those ids; other models' logs
 * carry no tokens key.
 */
export type WalItem = { meta: NewsMeta; vector: string; tokens?: number[] };

export type WalRecord = { seq: number; op: "upsert"; items: WalItem[] } | { seq: number; op: "delete"; id: string };

/** An item as logged: the tokens key only when there are token ids. */
export function walItem(meta: NewsMeta, vector: Float32Array, tokens: ArrayLike<number> | null): WalItem {
  return tokens ? { meta, vector: encodeVector(vector), tokens: Array.from(tokens) } : { meta, vector: encodeVector(vector) };
}

const HEADER = 16;
const MAGIC = Buffer.from([0xff, 0x57, 0x41, 0x4c]);
const MAGIC_U32 = MAGIC.readUInt32LE(0);
const LEGACY_HEADER = 8;
/** Every record's JSON starts so (seq is its first key): where to look for a legacy record. */
const LEGACY_START = Buffer.from('{"seq":');
const MAX_RECORD = 256 << 20;

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export function decodeVector(s: string): Float32Array {
  const b = Buffer.from(s, "base64");
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function encodeRecord(r: WalRecord): Buffer {
  const payload = Buffer.from(JSON.stringify(r), "utf8");
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  MAGIC.copy(frame, 0);
  frame.writeUInt32LE(payload.length, 4);
  frame.writeUInt32LE(crc32(payload), 8);
  frame.writeUInt32LE(crc32(frame.subarray(0, 12)), 12);
  payload.copy(frame, HEADER);
  return frame;
}

interface ScannedRecord {
  record: WalRecord;
  offset: number;
  end: number;
}

export interface ByteRange {
  start: number;
  end: number;
}

export interface WalScan {
  format: "framed" | "legacy";
  records: ScannedRecord[];
  /** Bytes that fail their checksums with intact records after them: corruption. */
  damaged: ByteRange[];
  /** Bytes after the last intact record that form no record: a crash mid-append. */
  tornTail: ByteRange | null;
}

function parse(payload: Buffer): WalRecord | null {
  try {
    const r = JSON.parse(payload.toString("utf8")) as WalRecord;
    if (!Number.isSafeInteger(r?.seq) || (r.op !== "upsert" && r.op !== "delete")) return null;
    return r;
  } catch {
    return null;
  }
}

type At = (buf: Buffer, off: number) => { record: WalRecord; end: number } | null;

const framedAt: At = (buf, off) => {
  if (off + HEADER > buf.length || buf.readUInt32LE(off) !== MAGIC_U32) return null;
  if (crc32(buf.subarray(off, off + 12)) !== buf.readUInt32LE(off + 12)) return null;
  const end = off + HEADER + buf.readUInt32LE(off + 4);
  if (end > buf.length) return null;
  const payload = buf.subarray(off + HEADER, end);
  if (crc32(payload) !== buf.readUInt32LE(off + 8)) return null;
  const record = parse(payload);
  return record && { record, end };
};

const legacyAt: At = (buf, off) => {
  if (off + LEGACY_HEADER > buf.length) return null;
  const len = buf.readUInt32LE(off);
  const end = off + LEGACY_HEADER + len;
  if (len > MAX_RECORD || end > buf.length) return null;
  const payload = buf.subarray(off + LEGACY_HEADER, end);
  if (crc32(payload) !== buf.readUInt32LE(off + 4)) return null;
  const record = parse(payload);
  return record && { record, end };
};

/** The offset of the first intact record at or after `from`, or -1. */
function nextIntact(buf: Buffer, from: number, legacy: boolean): number {
  const at = legacy ? legacyAt : framedAt;
  const marker = legacy ? LEGACY_START : MAGIC;
  const shift = legacy ? LEGACY_HEADER : 0;
  for (let i = buf.indexOf(marker, from + shift); i >= 0; i = buf.indexOf(marker, i + 1)) {
    if (i - shift >= from && at(buf, i - shift)) return i - shift;
  }
  return -1;
}

function detectLegacy(buf: Buffer): boolean {
  if (buf.length < 4 || buf.readUInt32LE(0) === MAGIC_U32) return false;
  if (legacyAt(buf, 0)) return true;
  // The first record is damaged: whichever framing has intact records later decides.
  return nextIntact(buf, 1, false) < 0 && nextIntact(buf, 0, true) >= 0;
}

/** Reads every intact record and names every byte range that is not one. */
export function scanWal(buf: Buffer): WalScan {
  const legacy = detectLegacy(buf);
  const at = legacy ? legacyAt : framedAt;
  const records: ScannedRecord[] = [];
  const damaged: ByteRange[] = [];
  let tornTail: ByteRange | null = null;
  let off = 0;
  while (off < buf.length) {
    const r = at(buf, off);
    if (r) {
      records.push({ record: r.record, offset: off, end: r.end });
      off = r.end;
      continue;
    }
    const next = nextIntact(buf, off + 1, legacy);
    if (next < 0) {
      tornTail = { start: off, end: buf.length };
      break;
    }
    damaged.push({ start: off, end: next });
    off = next;
  }
  return { format: legacy ? "legacy" : "framed", records, damaged, tornTail };
}

/** Records in the current framing, one after another. */
export function encodeLog(records: WalRecord[]): Buffer {
  return Buffer.concat(records.map(encodeRecord));
}
