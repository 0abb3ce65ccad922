/**
 * Item metadata as bytes: each slot's item is kept as its JSON text (UTF-8) in one growing
 * arena, and parsed when asked for. A million items cost their JSON size plus 12 bytes each,
 * where as JavaScript objects they cost several times that (a hidden class, a header and a
 * string per field). The hot path reads k items per request, a few microseconds of parsing.
 *
 * The most recently read items are also kept parsed (frozen, HOT of them), since retrieves keep
 * answering the same popular items.
 *
 * A rewritten or freed item leaves its old bytes behind; once they are more than half of the
 * arena, the live ones are copied into a new one (in slot order), so the arena stays within
 * twice the live bytes.
 *
 * Items can also stay in a file and be read on demand (a byte store): a large snapshot's items
 * are left in its items.jsonl, each slot keeping the byte range of its text there, and only the
 * items written since are held in memory. A million items' JSON (288 MiB) then costs no resident
 * memory beyond what is read, one read of a few hundred bytes per item answered, the most
 * recently read RAW_HOT of them kept. The file is held open, so a snapshot folder removed meanwhile
 * (a compaction's retention) is still read; a read that fails makes the store unavailable,
 * which readiness reports until that read succeeds again (recheck). Each item's CRC-32 is kept
 * (4 bytes a slot) and checked on every read from the file, so bytes changed under the server
 * (a copy over the file in place) are refused, never served as an item.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { crc32 } from "node:zlib";
import type { NewsItem } from "../api/schemas.ts";
import { NewsrecError } from "../errors.ts";

const MIN_COMPACT = 1 << 20;
/** Parsed items kept for reading again. */
const HOT = 4096;
/** Items read from the file kept as bytes for reading again. */
const RAW_HOT = 8192;
const OPEN_BRACE = 0x7b;

/** An item's JSON text as stored: its "id" key first (rank/rank-json.ts splices the text after it). */
export function storedText(item: NewsItem): string {
  const { id, ...rest } = item;
  return JSON.stringify({ id, ...rest });
}

/** Where each slot's item text is in a snapshot's items.jsonl (-1: a free slot), and the CRC-32 of its bytes there. */
export interface ItemPlaces {
  at: Float64Array;
  sums: Uint32Array;
}

export class MetaStore {
  private bytes = new Uint8Array(1 << 16);
  private used = 0;
  private garbage = 0;
  /** Where each slot's text starts: in the arena (>= 0), or in the file at -(start + 1) (its text after the opening brace). */
  private starts = new Float64Array(1024);
  /** Byte length per slot; 0: no item. */
  private lengths = new Uint32Array(1024);
  /** Of an item in the file: the CRC-32 of its bytes there. */
  private sums = new Uint32Array(1024);
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly hot = new Map<number, NewsItem>();
  private readonly rawHot = new Map<number, Uint8Array>();
  /** The file items are read from (openFile), or -1. */
  private fd = -1;
  /** The name of the file items are read from ("" for none). */
  fileName = "";
  /** Why the file cannot be read, once a read has failed. */
  failure: string | null = null;
  /** The read that failed, tried again by recheck(). */
  private failed: { at: number; length: number; sum: number } | null = null;
  /** Items in the file asked for so far: read from it, or found among the kept ones. */
  readonly fileReads = { file: 0, cache: 0 };
  /** Slots ever used. */
  rows = 0;

  get byteLength(): number {
    return this.bytes.byteLength + this.starts.byteLength + this.lengths.byteLength + this.sums.byteLength;
  }

  /** Bytes of JSON held for live items. */
  get liveBytes(): number {
    return this.used - this.garbage;
  }

  private growSlots(slot: number): void {
    if (slot < this.lengths.length) return;
    let cap = this.lengths.length;
    while (cap <= slot) cap *= 2;
    const s = new Float64Array(cap);
    s.set(this.starts);
    const l = new Uint32Array(cap);
    l.set(this.lengths);
    const c = new Uint32Array(cap);
    c.set(this.sums);
    this.starts = s;
    this.lengths = l;
    this.sums = c;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.bytes.length) return;
    let cap = this.bytes.length;
    while (cap < this.used + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.bytes.subarray(0, this.used));
    this.bytes = b;
  }

  /** Makes room for n more bytes of JSON at once (a snapshot's items), so that loading never copies the arena. */
  reserveBytes(n: number): void {
    if (this.used + n <= this.bytes.length) return;
    const b = new Uint8Array(this.used + n);
    b.set(this.bytes.subarray(0, this.used));
    this.bytes = b;
  }

  /** Makes slots below n exist (free until set): a snapshot's slot count. */
  reserveRows(n: number): void {
    if (n > 0) this.growSlots(n - 1);
    this.rows = Math.max(this.rows, n);
  }

  has(slot: number): boolean {
    return slot < this.rows && this.lengths[slot]! > 0;
  }

  /** Stores an item, its "id" key first (rank/rank-json.ts splices the text after it). */
  set(slot: number, item: NewsItem): void {
    this.setJson(slot, storedText(item));
  }

  /** Stores an item given as its JSON text. */
  setJson(slot: number, json: string): void {
    this.growSlots(slot);
    this.forget(slot);
    if (slot >= this.rows) this.rows = slot + 1;
    if (this.starts[slot]! >= 0) this.garbage += this.lengths[slot]!;
    const first = this.encoder.encodeInto(json, this.bytes.subarray(this.used));
    let written = first.written;
    if (first.read < json.length) {
      // It did not fit. UTF-8 takes at most 3 bytes per UTF-16 unit.
      this.reserve(json.length * 3);
      written = this.encoder.encodeInto(json, this.bytes.subarray(this.used)).written;
    }
    this.starts[slot] = this.used;
    this.lengths[slot] = written;
    this.used += written;
    this.maybeCompact();
  }

  clear(slot: number): void {
    if (!this.has(slot)) return;
    this.forget(slot);
    if (this.starts[slot]! >= 0) this.garbage += this.lengths[slot]!;
    this.lengths[slot] = 0;
    this.starts[slot] = 0;
    this.maybeCompact();
  }

  private forget(slot: number): void {
    this.hot.delete(slot);
    this.rawHot.delete(slot);
  }

  /** Opens the file that setInFile's ranges are in (a snapshot's items.jsonl); held open until close(). */
  openFile(path: string): void {
    if (this.fd >= 0) throw new Error("the item store already reads a file");
    this.fd = openSync(path, "r");
    this.fileName = basename(path);
  }

  /**
   * Makes an item the text in the open file at [at, at + length) preceded by "{": its JSON
   * text as set() would store it, there without its opening brace (items.jsonl puts the slot
   * first: {"slot":7,"id":…}); `sum` is the CRC-32 of those bytes.
   */
  setInFile(slot: number, at: number, length: number, sum: number): void {
    if (this.fd < 0) throw new Error("no file is open");
    this.growSlots(slot);
    this.forget(slot);
    if (slot >= this.rows) this.rows = slot + 1;
    if (this.starts[slot]! >= 0) this.garbage += this.lengths[slot]!;
    this.starts[slot] = -(at + 1);
    this.lengths[slot] = length + 1;
    this.sums[slot] = sum;
  }

  /** Whether items are read from a file. */
  get readsFile(): boolean {
    return this.fd >= 0;
  }

  /**
   * Every item is read from `path` from now on, at place.at[slot] (its text after the opening
   * brace, as setInFile, with place.sums[slot] its CRC-32): a file written from this store as it
   * is (a snapshot's items.jsonl). The arena is let go and the previous file closed; a read
   * failure of the previous file is forgotten. Throws, changing nothing, when the file cannot be
   * opened or a live slot has no place in it.
   */
  adoptFile(path: string, place: ItemPlaces): void {
    for (let slot = 0; slot < this.rows; slot++)
      if (this.lengths[slot]! > 0 && !(place.at[slot]! >= 0)) throw new Error(`slot ${slot} is not in ${basename(path)}`);
    const fd = openSync(path, "r");
    for (let slot = 0; slot < this.rows; slot++)
      if (this.lengths[slot]! > 0) {
        this.starts[slot] = -(place.at[slot]! + 1);
        this.sums[slot] = place.sums[slot]!;
      }
    this.close();
    this.fd = fd;
    this.fileName = basename(path);
    this.failure = null;
    this.failed = null;
    this.bytes = new Uint8Array(1 << 16);
    this.used = 0;
    this.garbage = 0;
  }

  /** Items read from the file, not held (diagnostics, tests). */
  get inFile(): number {
    let n = 0;
    for (let s = 0; s < this.rows; s++) if (this.lengths[s]! > 0 && this.starts[s]! < 0) n++;
    return n;
  }

  /**
   * The item's JSON bytes (a view: valid until the next write). An item in the file is read
   * from it; a failed read throws UNAVAILABLE (the file gone bad under the server: a disk
   * error, or truncated) and marks the store failed.
   */
  raw(slot: number): Uint8Array | null {
    if (!this.has(slot)) return null;
    const s = this.starts[slot]!;
    if (s >= 0) return this.bytes.subarray(s, s + this.lengths[slot]!);
    const kept = this.rawHot.get(slot);
    if (kept) {
      this.fileReads.cache++;
      // Most recently read last: the first one is the one to let go.
      this.rawHot.delete(slot);
      this.rawHot.set(slot, kept);
      return kept;
    }
    this.fileReads.file++;
    const out = this.readFile(-s - 1, this.lengths[slot]!, this.sums[slot]!);
    if (this.rawHot.size >= RAW_HOT) this.rawHot.delete(this.rawHot.keys().next().value!);
    this.rawHot.set(slot, out);
    return out;
  }

  /**
   * raw() for copying every item (a snapshot being written): neither counted as served nor
   * kept, so the items kept stay the ones requests ask for.
   */
  rawToCopy(slot: number): Uint8Array | null {
    if (!this.has(slot)) return null;
    const s = this.starts[slot]!;
    if (s >= 0) return this.bytes.subarray(s, s + this.lengths[slot]!);
    return this.rawHot.get(slot) ?? this.readFile(-s - 1, this.lengths[slot]!, this.sums[slot]!);
  }

  private readFile(at: number, length: number, sum: number): Uint8Array {
    const out = new Uint8Array(length);
    out[0] = OPEN_BRACE;
    try {
      for (let got = 1; got < length; ) {
        const n = readSync(this.fd, out, got, length - got, at + got - 1);
        if (n === 0) throw new Error(`${this.fileName} ends before byte ${at + length - 1} (truncated)`);
        got += n;
      }
      if (crc32(out.subarray(1)) !== sum) throw new Error(`${this.fileName} changed: bytes ${at} to ${at + length - 2} are not the item read at start-up`);
    } catch (err) {
      this.failed = { at, length, sum };
      this.failure = `the catalog's item file cannot be read: ${(err as Error).message}`;
      throw new NewsrecError("UNAVAILABLE", this.failure);
    }
    return out;
  }

  /**
   * Why the items cannot be read, or null: a read that failed is tried again first, and the
   * failure forgotten once it reads whole (a storage hiccup over; a file put back).
   */
  recheck(): string | null {
    if (this.failed && this.fd >= 0) {
      const { at, length, sum } = this.failed;
      try {
        this.readFile(at, length, sum);
        this.failed = null;
        this.failure = null;
      } catch {
        // Still failing: readFile has said why.
      }
    }
    return this.failure;
  }

  /** Closes the file (the store's items in it become unreadable). */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  /** The item (frozen: shared with later readers), or null for a free slot. */
  get(slot: number): NewsItem | null {
    const cached = this.hot.get(slot);
    if (cached) return cached;
    const r = this.raw(slot);
    if (!r) return null;
    const item = Object.freeze(JSON.parse(this.decoder.decode(r)) as NewsItem);
    if (this.hot.size >= HOT) this.hot.delete(this.hot.keys().next().value!);
    this.hot.set(slot, item);
    return item;
  }

  private maybeCompact(): void {
    if (this.garbage < MIN_COMPACT || this.garbage * 2 < this.used) return;
    const b = new Uint8Array(Math.max(1 << 16, (this.used - this.garbage) * 2));
    let at = 0;
    for (let slot = 0; slot < this.rows; slot++) {
      const n = this.lengths[slot]!;
      const s = this.starts[slot]!;
      if (!n || s < 0) continue;
      b.set(this.bytes.subarray(s, s + n), at);
      this.starts[slot] = at;
      at += n;
    }
    this.bytes = b;
    this.used = at;
    this.garbage = 0;
  }
}
