/** Exact dot-product scoring over the catalog's vector matrix: rerank, small catalogs, recall ground truth. */

export function dot(a: Float32Array, b: Float32Array, offset = 0): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[offset + i]!;
  return s;
}

/** A bounded min-heap: keeps the k best of a stream of scores without sorting everything. */
export class TopK {
  private readonly heap: { slot: number; score: number }[] = [];
  constructor(private readonly k: number) {}

  push(slot: number, score: number): void {
    const heap = this.heap;
    if (heap.length < this.k) {
      heap.push({ slot, score });
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (heap[p]!.score <= heap[i]!.score) break;
        [heap[p], heap[i]] = [heap[i]!, heap[p]!];
        i = p;
      }
    } else if (heap.length && score > heap[0]!.score) {
      heap[0] = { slot, score };
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.score < heap[m]!.score) m = l;
        if (r < heap.length && heap[r]!.score < heap[m]!.score) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
  }

  /** Best first. */
  result(): { slot: number; score: number }[] {
    return this.heap.sort((a, b) => b.score - a.score || a.slot - b.slot);
  }
}

/** The k rows of largest dot product among those that pass accept, best first. */
export function exactTopK(
  query: Float32Array,
  matrix: Float32Array,
  rows: number,
  k: number,
  accept: (slot: number) => boolean,
): { slot: number; score: number }[] {
  const top = new TopK(k);
  for (let slot = 0; slot < rows; slot++) if (accept(slot)) top.push(slot, dot(query, matrix, slot * query.length));
  return top.result();
}
