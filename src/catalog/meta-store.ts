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
 */
import type { NewsItem } from "../api/schemas.ts";

const MIN_COMPACT = 1 << 20;
/** Parsed items kept for reading again. */
const HOT = 4096;

export class MetaStore {
  private bytes = new Uint8Array(1 << 16);
  private used = 0;
  private garbage = 0;
  private starts = new Float64Array(1024);
  /** Byte length per slot; 0: no item. */
  private lengths = new Uint32Array(1024);
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly hot = new Map<number, NewsItem>();
  /** Slots ever used. */
  rows = 0;

  get byteLength(): number {
    return this.bytes.byteLength + this.starts.byteLength + this.lengths.byteLength;
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
    this.starts = s;
    this.lengths = l;
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
    const { id, ...rest } = item;
    this.setJson(slot, JSON.stringify({ id, ...rest }));
  }

  /** Stores an item given as its JSON text. */
  setJson(slot: number, json: string): void {
    this.growSlots(slot);
    this.hot.delete(slot);
    if (slot >= this.rows) this.rows = slot + 1;
    this.garbage += this.lengths[slot]!;
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
    this.hot.delete(slot);
    this.garbage += this.lengths[slot]!;
    this.lengths[slot] = 0;
    this.maybeCompact();
  }

  /** The item's JSON bytes (a view: valid until the next write). */
  raw(slot: number): Uint8Array | null {
    if (!this.has(slot)) return null;
    const s = this.starts[slot]!;
    return this.bytes.subarray(s, s + this.lengths[slot]!);
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
      if (!n) continue;
      const s = this.starts[slot]!;
      b.set(this.bytes.subarray(s, s + n), at);
      this.starts[slot] = at;
      at += n;
    }
    this.bytes = b;
    this.used = at;
    this.garbage = 0;
  }
}
