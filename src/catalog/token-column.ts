/**
 * Each slot's token ids, for a user encoder that reads the clicked news' words beside their
 * vectors (FUM: "news_tokens_and_vectors"). They are computed once, when an item is written
 * (upsert, embed), with the bundle's tokenizer, so that a cache-miss rank reads them instead of
 * tokenizing the history again; snapshots and the write-ahead log keep them, so a restart does
 * not tokenize either.
 *
 * One typed array of fixed-width rows: a row is the item's id count, then up to `width` ids
 * (uint16 when the vocabulary fits in 16 bits, else uint32); a free slot's count is 0. At width 16
 * a million news cost 34 MB. A catalog whose bundle does not read token ids has no column at all.
 */
import type { Manifest } from "../model/manifest.ts";

export interface TokenSpec {
  /** The most ids one item keeps: the user encoder's tokens.maxLength. */
  width: number;
  /** Bytes per id (and per count): 2 when every id of the vocabulary fits in 16 bits, else 4. */
  bytesPerId: 2 | 4;
}

/** What a bundle's user encoder needs the catalog to keep; undefined when it reads no token ids. */
export function tokenSpecOf(m: Manifest): TokenSpec | undefined {
  const user = m.encoders.user;
  if (user.input !== "news_tokens_and_vectors") return undefined;
  return { width: user.tokens.maxLength, bytesPerId: m.tokenizer.vocabSize <= 0x10000 && user.tokens.maxLength < 0x10000 ? 2 : 4 };
}

export function sameTokenSpec(a: TokenSpec, b: TokenSpec): boolean {
  return a.width === b.width && a.bytesPerId === b.bytesPerId;
}

type Rows = Uint16Array | Uint32Array;

export class TokenColumn {
  private rows: Rows;
  private readonly stride: number;
  private readonly maxId: number;

  constructor(
    readonly spec: TokenSpec,
    capacity: number,
  ) {
    this.stride = spec.width + 1;
    this.maxId = spec.bytesPerId === 2 ? 0xffff : 0xffffffff;
    this.rows = this.alloc(capacity);
  }

  private alloc(capacity: number): Rows {
    return this.spec.bytesPerId === 2 ? new Uint16Array(capacity * this.stride) : new Uint32Array(capacity * this.stride);
  }

  get byteLength(): number {
    return this.rows.byteLength;
  }

  /** Room for at least `capacity` slots. */
  grow(capacity: number): void {
    if (capacity * this.stride <= this.rows.length) return;
    const rows = this.alloc(capacity);
    rows.set(this.rows);
    this.rows = rows;
  }

  /** Why these ids cannot be kept, or null. Checked before a write changes anything. */
  problem(ids: ArrayLike<number>): string | null {
    if (ids.length < 1 || ids.length > this.spec.width) return `${ids.length} token ids, not 1 to ${this.spec.width}`;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id > this.maxId) return `token id ${id} is out of range`;
    }
    return null;
  }

  set(slot: number, ids: ArrayLike<number>): void {
    const why = this.problem(ids);
    if (why) throw new Error(why);
    this.grow(slot + 1);
    const at = slot * this.stride;
    this.rows[at] = ids.length;
    for (let i = 0; i < ids.length; i++) this.rows[at + 1 + i] = ids[i]!;
    // The rest of the row is left as it was: the count says where the ids end.
  }

  /** The slot's ids (a view: valid until the next write); empty for a free slot. */
  get(slot: number): Rows {
    const at = slot * this.stride;
    return this.rows.subarray(at + 1, at + 1 + this.rows[at]!);
  }

  clear(slot: number): void {
    const at = slot * this.stride;
    this.rows[at] = 0;
    this.rows.fill(0, at + 1, at + this.stride);
  }

  /** The rows of slots below `slots`, as little-endian bytes (a copy): a snapshot's tokens.bin. */
  bytes(slots: number): Uint8Array {
    const part = this.rows.slice(0, slots * this.stride);
    return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  }

  /** The size of tokens.bin for `slots` slots. */
  static fileBytes(spec: TokenSpec, slots: number): number {
    return slots * (spec.width + 1) * spec.bytesPerId;
  }

  /** Fills slots below `slots` from a snapshot's tokens.bin (any alignment). */
  load(bytes: Uint8Array, slots: number): void {
    this.grow(slots);
    new Uint8Array(this.rows.buffer, this.rows.byteOffset, TokenColumn.fileBytes(this.spec, slots)).set(bytes);
  }
}
