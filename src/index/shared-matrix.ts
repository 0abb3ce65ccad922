/**
 * The catalog's vectors as the encoder workers see them, for exact scoring through onnxruntime.
 *
 * The vectors live on a SharedArrayBuffer, so posting them to a worker copies nothing. But
 * onnxruntime-node will not read a tensor over shared memory (its binding asks N-API for the
 * view's ArrayBuffer and a SharedArrayBuffer is not one: "Invalid argument"), so each worker
 * keeps a private mirror of the matrix and brings it up to date before a run by copying only
 * the rows written since its last run. To find them without scanning the vectors, every slot
 * has a write stamp on a second SharedArrayBuffer: [catalog id, writes, stamp of slot 0, ...].
 * A worker compares stamps (4 bytes a row, and only when the write count moved), never rows.
 *
 * Only the main thread writes. It marks the row WRITING, stores it (its vector, and the index
 * workers' columns: index/shard-columns.ts), then stamps it and counts the write (all three
 * with Atomics): a worker that reads the count and then a row's stamp sees the row's bytes as
 * of that stamp or later. The stamps also let a search see the catalog as it was when the
 * search was asked: a row read between two loads of its stamp, each at most the write count
 * then, is that row as it was (rowAsOf). A row rewritten while a worker copies it carries a
 * newer stamp and is copied again next time; callers rescore their hits on the main thread,
 * so a run that overlaps a write can be stale by those rows and never wrong about them.
 */

export interface SharedMatrix {
  /** Row-major [capacity, dim], on a SharedArrayBuffer. */
  vectors: Float32Array;
  /** [catalog id, writes, one stamp per slot], on a SharedArrayBuffer. */
  stamps: Int32Array;
  /** Rows in use (live and free slots); rows past it are never read. */
  rows: number;
  dim: number;
}

const ID = 0;
const WRITES = 1;
const HEADER = 2;
/** Catalogs of this process: a worker's mirror of one is never taken for another's. */
let nextCatalogId = 1;

/** Vectors for `slots` rows on shared memory, holding a copy of `old` when growing. */
export function sharedVectors(slots: number, dim: number, old?: Float32Array): Float32Array {
  const v = new Float32Array(new SharedArrayBuffer(slots * dim * Float32Array.BYTES_PER_ELEMENT));
  if (old) v.set(old);
  return v;
}

/** Stamps for `slots` rows; a new catalog (no `old`) gets an id of its own. */
export function sharedStamps(slots: number, old?: Int32Array): Int32Array {
  const s = new Int32Array(new SharedArrayBuffer((HEADER + slots) * Int32Array.BYTES_PER_ELEMENT));
  if (old) s.set(old);
  else s[ID] = nextCatalogId++;
  return s;
}

/** A row's stamp while the main thread writes it. */
const WRITING = -1;

/** Before a row is written: readers that check stamps (rowAsOf) pass it by until stampRows. */
export function openRow(stamps: Int32Array, slot: number): void {
  Atomics.store(stamps, HEADER + slot, WRITING);
}

/** The writes made so far: a search asked now sees the rows as of this count (rowAsOf). */
export function writesOf(stamps: Int32Array): number {
  return Atomics.load(stamps, WRITES);
}

/** Whether a row is as it was at `writes`: last written no later, and not being written now. */
export function rowAsOf(stamps: Int32Array, slot: number, writes: number): boolean {
  const s = Atomics.load(stamps, HEADER + slot);
  return s !== WRITING && s <= writes;
}

/**
 * Where the write count starts again rather than wrap: every row is stamped 1 and the catalog
 * takes a new id, so every mirror copies it whole once (rowAsOf compares stamps by size).
 */
const MAX_WRITES = 2 ** 31 - 2;

/** After rows [from, to) were written: stamps them and publishes the write. */
export function stampRows(stamps: Int32Array, from: number, to = from + 1): void {
  if (stamps[WRITES]! >= MAX_WRITES) {
    stamps.fill(1, HEADER);
    Atomics.store(stamps, ID, nextCatalogId++);
    Atomics.store(stamps, WRITES, 1);
  }
  const w = stamps[WRITES]! + 1;
  for (let slot = from; slot < to; slot++) Atomics.store(stamps, HEADER + slot, w);
  Atomics.store(stamps, WRITES, w);
}

/** A worker's private copy of one catalog's matrix, kept current by stamps. */
export class MatrixMirror {
  private id = 0;
  private seenWrites = -1;
  private seenRows = 0;
  private data = new Float32Array(0);
  private stamps = new Int32Array(0);
  /** Rows copied by the last sync (diagnostics, tests). */
  copiedRows = 0;

  /** Drops the copy (a matrix grown past what is mirrored). */
  clear(): void {
    this.id = 0;
    this.data = new Float32Array(0);
    this.stamps = new Int32Array(0);
  }

  /** The matrix's [rows, dim] as a plain (non-shared) Float32Array that onnxruntime accepts. */
  sync(m: SharedMatrix): Float32Array {
    const id = m.stamps[ID]!;
    const writes = Atomics.load(m.stamps, WRITES);
    if (id !== this.id) {
      this.id = id;
      this.seenWrites = -1;
      this.seenRows = 0;
      this.data = new Float32Array(0);
      this.stamps = new Int32Array(0);
    }
    if (this.stamps.length < m.rows) {
      // Grows like the catalog (doubling), so a growing catalog costs few reallocations here.
      const cap = Math.max(m.rows, this.stamps.length * 2);
      const data = new Float32Array(cap * m.dim);
      data.set(this.data);
      const stamps = new Int32Array(cap);
      stamps.set(this.stamps);
      this.data = data;
      this.stamps = stamps;
    }
    this.copiedRows = 0;
    if (writes !== this.seenWrites || m.rows !== this.seenRows) {
      const d = m.dim;
      for (let slot = 0; slot < m.rows; slot++) {
        // The stamp is read before the row: a write landing during the copy leaves a newer stamp behind.
        const s = Atomics.load(m.stamps, HEADER + slot);
        if (s === this.stamps[slot]) continue;
        this.stamps[slot] = s;
        this.data.set(m.vectors.subarray(slot * d, (slot + 1) * d), slot * d);
        this.copiedRows++;
      }
      this.seenWrites = writes;
      this.seenRows = m.rows;
    }
    return this.data.subarray(0, m.rows * m.dim);
  }
}
