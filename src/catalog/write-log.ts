/**
 * The slots the catalog wrote most recently, in order: what a kept answer (rank/answer-reuse.ts)
 * must look at to know whether the catalog still gives it. Positions count every write since the
 * catalog was made and never wrap (a double counts exactly to 2^53); the log holds the last
 * `capacity` of them, so an answer older than that is simply not reused.
 */
export class WriteLog {
  private readonly slots: Int32Array;
  private written = 0;
  /** Answers from before this position cannot be checked (forgetAll). */
  private floor = 0;

  constructor(readonly capacity = 256) {
    this.slots = new Int32Array(Math.max(1, capacity));
  }

  /** Writes made so far: an answer computed from a search asked now is as of this position. */
  get position(): number {
    return this.written;
  }

  record(slot: number): void {
    this.slots[this.written % this.slots.length] = slot;
    this.written++;
  }

  /** After a change the log does not list slot by slot (a restore): nothing before it can be checked. */
  forgetAll(): void {
    this.floor = this.written;
  }

  /**
   * Calls `visit` with each slot written after `position`, oldest first, until it returns false.
   * Returns false when the log no longer reaches back to `position`, or `visit` stopped it.
   */
  since(position: number, visit: (slot: number) => boolean): boolean {
    if (position < this.floor || this.written - position > this.slots.length || position > this.written) return false;
    for (let p = position; p < this.written; p++) if (!visit(this.slots[p % this.slots.length]!)) return false;
    return true;
  }
}
