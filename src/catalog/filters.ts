/**
 * The catalog's filter structures, kept current on every write: per category and overall, the
 * live slots ordered newest first. A search thus knows how many items a category set and a
 * publication bound match before it walks anything (O(categories · log n)), can enumerate
 * exactly those items when they are few, and the cold-start list needs no sort.
 */

/** Newest first; undated items last (they never expire, and cold start shows them after dated ones). */
const keyOf = (t: number): number => (Number.isNaN(t) ? Infinity : -t);

const before = (k1: number, s1: number, k2: number, s2: number): boolean => k1 < k2 || (k1 === k2 && s1 < s2);

/** An insert or delete shifts at most this many entries (a chunk), not the whole catalog. */
const MAX_CHUNK = 512;

/** Receives matching slots in freshness order; returning false stops the enumeration. */
export type Visit = (slot: number, key: number) => boolean | undefined;

/**
 * Slots ordered by (publication time descending, slot), undated last: a sorted list in chunks,
 * so writes cost O(MAX_CHUNK + log n) and a count costs two binary searches.
 */
export class FreshnessOrder {
  private keys: number[][] = [];
  private slots: number[][] = [];
  /** Entries before each chunk; rebuilt by the first count after a write (O(n / MAX_CHUNK)). */
  private starts: number[] | null = null;
  size = 0;

  constructor(private readonly maxChunk = MAX_CHUNK) {}

  /** Replaces the content with these slots, each dated by published[slot] (restore): one sort instead of n inserts, no object per item. */
  load(slots: Int32Array, published: Float64Array): void {
    const keyAt = (s: number) => keyOf(published[s]!);
    const order = slots.slice().sort((a, b) => (before(keyAt(a), a, keyAt(b), b) ? -1 : 1));
    this.keys = [];
    this.slots = [];
    const half = Math.max(1, this.maxChunk >> 1);
    for (let i = 0; i < order.length; i += half) {
      const part = order.subarray(i, i + half);
      this.keys.push(Array.from(part, keyAt));
      this.slots.push(Array.from(part));
    }
    this.size = order.length;
    this.starts = null;
  }

  add(slot: number, t: number): void {
    const key = keyOf(t);
    if (!this.keys.length) {
      this.keys.push([]);
      this.slots.push([]);
    }
    const c = this.chunkOf(key, slot);
    const ks = this.keys[c]!;
    const ss = this.slots[c]!;
    const i = this.position(ks, ss, key, slot);
    ks.splice(i, 0, key);
    ss.splice(i, 0, slot);
    if (ks.length > this.maxChunk) {
      this.keys.splice(c + 1, 0, ks.splice(ks.length >> 1));
      this.slots.splice(c + 1, 0, ss.splice(ss.length >> 1));
    }
    this.size++;
    this.starts = null;
  }

  /** t must be the time the slot was added with. */
  remove(slot: number, t: number): void {
    const key = keyOf(t);
    const c = this.chunkOf(key, slot);
    const ks = this.keys[c];
    const ss = this.slots[c];
    const i = ks && ss ? this.position(ks, ss, key, slot) : -1;
    if (!ks || !ss || ss[i] !== slot || ks[i] !== key) throw new Error(`slot ${slot} is not in the freshness order`);
    ks.splice(i, 1);
    ss.splice(i, 1);
    if (!ks.length) {
      this.keys.splice(c, 1);
      this.slots.splice(c, 1);
    }
    this.size--;
    this.starts = null;
  }

  /** Items published at or after `after` (ms since epoch), undated ones included. */
  countFrom(after: number): number {
    if (!(after > -Infinity)) return this.size;
    return this.countUpTo(-after) + this.size - this.countUpTo(Number.MAX_VALUE);
  }

  /** Visits those items newest first, then the undated ones, until visit returns false. */
  forEachFrom(after: number, visit: Visit): boolean {
    if (!(after > -Infinity)) return this.range(0, this.size, visit);
    return this.range(0, this.countUpTo(-after), visit) && this.range(this.countUpTo(Number.MAX_VALUE), this.size, visit);
  }

  /** The chunk that holds, or would hold, (key, slot): the first whose last entry is not before it. */
  private chunkOf(key: number, slot: number): number {
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const ks = this.keys[mid]!;
      const last = ks.length - 1;
      if (before(ks[last]!, this.slots[mid]![last]!, key, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private position(ks: number[], ss: number[], key: number, slot: number): number {
    let lo = 0;
    let hi = ks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(ks[mid]!, ss[mid]!, key, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private prefix(): number[] {
    if (!this.starts) {
      this.starts = new Array<number>(this.keys.length);
      let n = 0;
      this.keys.forEach((ks, c) => {
        this.starts![c] = n;
        n += ks.length;
      });
    }
    return this.starts;
  }

  /** Entries whose key is at most `key`. */
  private countUpTo(key: number): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keys[mid]!.at(-1)! <= key) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.keys.length) return this.size;
    const ks = this.keys[lo]!;
    let i = 0;
    let j = ks.length;
    while (i < j) {
      const mid = (i + j) >> 1;
      if (ks[mid]! <= key) i = mid + 1;
      else j = mid;
    }
    return this.prefix()[lo]! + i;
  }

  /** Visits entries [from, to) in order; false when visit stopped it. */
  private range(from: number, to: number, visit: Visit): boolean {
    if (from >= to) return true;
    const starts = this.prefix();
    let c = 0;
    let hi = starts.length - 1;
    while (c < hi) {
      const mid = (c + hi + 1) >> 1;
      if (starts[mid]! <= from) c = mid;
      else hi = mid - 1;
    }
    for (let n = from, i = from - starts[c]!; n < to; c++, i = 0) {
      const ks = this.keys[c]!;
      const ss = this.slots[c]!;
      for (; i < ks.length && n < to; i++, n++) if (visit(ss[i]!, ks[i]!) === false) return false;
    }
    return true;
  }
}

/** Freshness orders of the whole catalog and of each category (an item without one is in ""). */
export class FilterIndex {
  private readonly all: FreshnessOrder;
  private readonly byCategory = new Map<string, FreshnessOrder>();

  /** maxChunk: small in tests, so that chunks split and empty often. */
  constructor(private readonly maxChunk = MAX_CHUNK) {
    this.all = new FreshnessOrder(maxChunk);
  }

  add(slot: number, category: string, t: number): void {
    this.all.add(slot, t);
    let o = this.byCategory.get(category);
    if (!o) this.byCategory.set(category, (o = new FreshnessOrder(this.maxChunk)));
    o.add(slot, t);
  }

  remove(slot: number, category: string, t: number): void {
    this.all.remove(slot, t);
    const o = this.byCategory.get(category);
    if (!o) throw new Error(`slot ${slot} has no category order`);
    o.remove(slot, t);
    // Categories come and go with the news; an empty one is forgotten.
    if (!o.size) this.byCategory.delete(category);
  }

  /**
   * Replaces the content (restore) with these slots, from the catalog's columns: published[slot]
   * its time, names[categories[slot]] its category.
   */
  load(slots: Int32Array, published: Float64Array, categories: Int32Array, names: readonly string[]): void {
    this.all.load(slots, published);
    this.byCategory.clear();
    const count = new Int32Array(names.length);
    for (const s of slots) count[categories[s]!]!++;
    const groups = Array.from(count, (n) => new Int32Array(n));
    const fill = new Int32Array(names.length);
    for (const s of slots) {
      const c = categories[s]!;
      groups[c]![fill[c]!++] = s;
    }
    groups.forEach((g, c) => {
      if (!g.length) return;
      const o = new FreshnessOrder(this.maxChunk);
      o.load(g, published);
      this.byCategory.set(names[c]!, o);
    });
  }

  /** Items in one of `categories` (any when undefined) published at or after `after`. */
  count(categories: ReadonlySet<string> | undefined, after: number): number {
    if (!categories) return this.all.countFrom(after);
    let n = 0;
    for (const c of categories) n += this.byCategory.get(c)?.countFrom(after) ?? 0;
    return n;
  }

  /** Visits exactly those items (newest first within each category) until visit returns false. */
  forEach(categories: ReadonlySet<string> | undefined, after: number, visit: Visit): void {
    if (!categories) {
      this.all.forEachFrom(after, visit);
      return;
    }
    for (const c of categories) if (this.byCategory.get(c)?.forEachFrom(after, visit) === false) return;
  }

  /**
   * Up to k of those items, not excluded, newest first (undated last, ties by slot). Costs
   * O(categories · (k + excluded)): each category gives its own k freshest, and these are merged.
   */
  freshest(categories: ReadonlySet<string> | undefined, after: number, exclude: ReadonlySet<number> | undefined, k: number): number[] {
    const found: { slot: number; key: number }[] = [];
    const take = (o: FreshnessOrder) => {
      let n = 0;
      o.forEachFrom(after, (slot, key) => {
        if (exclude?.has(slot)) return true;
        found.push({ slot, key });
        return ++n < k;
      });
    };
    if (!categories) take(this.all);
    else
      for (const c of categories) {
        const o = this.byCategory.get(c);
        if (o) take(o);
      }
    if (categories && categories.size > 1) found.sort((a, b) => (before(a.key, a.slot, b.key, b.slot) ? -1 : 1));
    return found.slice(0, k).map((x) => x.slot);
  }
}
