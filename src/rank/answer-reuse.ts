/**
 * Retrieve answers kept beside the cached user vector they were computed for, and given again
 * while the catalog's writes since cannot have changed them. A user who asks again with the same
 * history (a page reloaded, the next page of a feed) then costs no search and no hand-over to a
 * worker: on the demo catalog that hand-over and the encoder worker's run were about 45% of the
 * CPU of a cache-hit retrieve (benchmarks/RESULTS.md, "The cache-hit hot path").
 *
 * A kept answer records where the catalog's write log stood when its search was asked
 * (catalog/write-log.ts). It is given again only if none of its items has aged out of the
 * request's filter, and no item written since (an upsert or a delete) is one of them or, passing
 * the filter, could now rank among them: scoring at least as well as the last, or filling a
 * short answer.
 * An exact answer given again is then the exact answer as the catalog is now; a graph answer
 * stays the graph's answer with no item since written better than its last. An answer older
 * than the write log (its last 256 writes) is searched again.
 *
 * Answers live in a WeakMap keyed by the user-cache entry, so they leave with it (eviction,
 * TTL). At most `perUser` are kept for one entry (one per k and filter), the most recent.
 */
import { LRUCache } from "lru-cache";
import type { Catalog, SearchFilter } from "../catalog/store.ts";
import type { UserVector } from "../model/encoders.ts";
import type { RankRequest, Scored } from "./types.ts";

/** A kept answer: what a reused retrieve answers, and the handle of its response text (AnswerReuse.textOf). */
export interface KeptAnswer {
  readonly hits: readonly Scored[];
}

interface Kept extends KeptAnswer {
  key: string;
  /** The catalog's writePosition when the answer's search was asked, or last found unchanged. */
  position: number;
  k: number;
}

export interface AnswerReuseOptions {
  /** Answers kept per user vector (0: none). */
  perUser: number;
  /** Response texts of kept answers held at most (bytes), least recently sent first out (0: none). */
  textMaxBytes?: number;
}

/** What makes two retrieves of one user vector the same search: k, the filter and whether the history is excluded. */
export function answerKey(k: number, req: Pick<RankRequest, "excludeHistory" | "filter">): string {
  const f = req.filter;
  const categories = f?.categories?.length ? f.categories.join("\u0001") : "";
  return `${k}\u0000${req.excludeHistory === false ? 0 : 1}\u0000${f?.maxAgeHours ?? ""}\u0000${categories}`;
}

export class AnswerReuse {
  private readonly kept = new WeakMap<UserVector, Kept[]>();
  /**
   * Each kept answer's response JSON once made, sent again byte for byte while the answer holds: a
   * response is then one buffer, with no item read or score formatted (the items' text cannot have
   * changed, since any write to one makes the answer stale). Bounded by bytes, as an answer's text is
   * a few kilobytes where the answer is a few numbers.
   */
  private readonly texts: LRUCache<Kept, Buffer> | null;
  /** Retrieves answered from a kept answer, and kept answers found changed (newsrec_kept_answers_total). */
  readonly counts = { reused: 0, stale: 0 };
  private readonly perUser: number;

  constructor(
    private readonly catalog: Catalog,
    o: AnswerReuseOptions,
  ) {
    this.perUser = o.perUser;
    const max = o.textMaxBytes ?? 0;
    this.texts = max > 0 && o.perUser > 0 ? new LRUCache<Kept, Buffer>({ maxSize: max, sizeCalculation: (b) => Math.max(1, b.length) }) : null;
  }

  get enabled(): boolean {
    return this.perUser > 0;
  }

  /** The response text last made for a kept answer given again, if still held. */
  textOf(answer: KeptAnswer): Buffer | undefined {
    return this.texts?.get(answer as Kept);
  }

  /** Holds a kept answer's response text, as a copy of its own rather than a view of a shared pool; returns what it holds. */
  keepText(answer: KeptAnswer, text: Uint8Array): Buffer | undefined {
    if (!this.texts || text.length > (this.texts.maxSize ?? 0)) return undefined;
    const own = Buffer.allocUnsafeSlow(text.length);
    own.set(text);
    this.texts.set(answer as Kept, own);
    return own;
  }

  /** Keeps an answer; `position`: the catalog's writePosition taken before its search was asked. */
  keep(user: UserVector, key: string, position: number, k: number, hits: readonly Scored[]): void {
    if (this.perUser <= 0) return;
    let list = this.kept.get(user);
    if (!list) this.kept.set(user, (list = []));
    const i = list.findIndex((e) => e.key === key);
    if (i >= 0) this.texts?.delete(list.splice(i, 1)[0]!);
    list.unshift({ key, position, k, hits });
    while (list.length > this.perUser) this.texts?.delete(list.pop()!);
  }

  /** The answer kept for this user vector and key when the catalog, as it is now, still gives it; else null. */
  reuse(user: UserVector, key: string, filter: SearchFilter, now = Date.now()): KeptAnswer | null {
    const list = this.kept.get(user);
    const e = list?.find((x) => x.key === key);
    if (!e) return null;
    const c = this.catalog;
    const hits = e.hits;
    // A kept item deleted or rewritten is in the log; the one change the log does not list is an item aging out.
    const bound = c.publishedBound(filter, now);
    if (bound > -Infinity) for (let i = 0; i < hits.length; i++) if (c.publishedAtMs(hits[i]!.slot) < bound) return this.stale(list!, e);
    const last = hits[hits.length - 1];
    const full = hits.length >= e.k;
    let passes: ((slot: number) => boolean) | null = null;
    const unchanged = c.changedSince(e.position, (slot) => {
      for (let i = 0; i < hits.length; i++) if (hits[i]!.slot === slot) return false;
      if (!(passes ??= c.passes(filter, now))(slot)) return true;
      if (!full || !last) return false;
      // A tie with the last may be ordered either way by a search: searched again.
      return c.scoreAt(user.vector, slot) < last.score;
    });
    if (!unchanged) return this.stale(list!, e);
    e.position = c.writePosition;
    this.counts.reused++;
    return e;
  }

  private stale(list: Kept[], e: Kept): null {
    list.splice(list.indexOf(e), 1);
    this.texts?.delete(e);
    this.counts.stale++;
    return null;
  }
}
