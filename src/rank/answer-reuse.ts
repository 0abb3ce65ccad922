/**
 * Retrieve answers kept for the cached user vector they were computed for, and given again while
 * the catalog's writes since cannot have changed them. A user who asks again with the same
 * history (a page reloaded, the next page of a feed) then costs no search and no hand-over to a
 * worker: on the demo catalog that hand-over and the encoder worker's run were about a third of
 * the CPU of a cache-hit retrieve (benchmarks/RESULTS.md, "The cache-hit hot path").
 *
 * A kept answer records where the catalog's write log stood when its search was asked
 * (catalog/write-log.ts). It is given again only if none of its items has aged out of the
 * request's filter, and no item written since (an upsert or a delete) is one of them or, passing
 * the filter, could now rank among them: scoring at least as well as the last, or filling a
 * short answer. An exact answer given again is then the exact answer as the catalog is now; a
 * graph answer stays the graph's answer with no item since written better than its last, until
 * a search would be exact (the catalog or the filter's matching items fewer than a threshold). An
 * answer older than the write log (its last 256 writes) is searched again.
 *
 * Answers are kept for the very user-vector object they were computed from (a vector encoded
 * again, after its entry left the user cache, starts afresh), up to PER_USER of them (one per k and
 * filter), in one cache bounded by bytes with their response texts: least recently used first out.
 * Keyed by the object, a lookup hashes no string.
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
  /** The request's k and filter (answerKey). */
  readonly key: string;
  readonly user: UserVector;
  /** The catalog's writePosition when the answer's search was asked, or last found unchanged. */
  position: number;
  readonly k: number;
  /** Whether its search scored every matching item (else it walked the graph). */
  readonly exact: boolean;
  /** The response JSON last sent for it, once made (a copy of its own). */
  readonly text?: Buffer;
}

/** Answers kept for one user vector: its requests rarely vary more (k, a category or age filter). */
const PER_USER = 4;

/** About what a kept answer holds: the entry and its key, each hit an object in an array, and its text. */
const sizeOf = (e: Kept): number => 200 + e.key.length * 2 + 48 * e.hits.length + (e.text?.length ?? 0);
/** A user vector's answers, and the vector itself, which the cache keeps alive (after the user cache let it go, too). */
const sizeOfAll = (list: readonly Kept[]): number => {
  const user = list[0]?.user;
  const vector = user ? 64 + user.vector.byteLength + 8 * (user.attention?.length ?? 0) : 0;
  return list.reduce((n, e) => n + sizeOf(e), 64 + vector);
};

/** What makes two retrieves of one user vector the same search: k, the filter and whether the history is excluded. */
export function answerKey(k: number, req: Pick<RankRequest, "excludeHistory" | "filter">): string {
  const f = req.filter;
  // JSON: no two lists of categories read alike, whatever characters they hold.
  const categories = f?.categories?.length ? JSON.stringify(f.categories) : "";
  return `${k}:${req.excludeHistory === false ? 0 : 1}:${f?.maxAgeHours ?? ""}:${categories}`;
}

export class AnswerReuse {
  /** Each user vector's kept answers, most recent first; a list is replaced, never changed, so the cache sizes it anew. */
  private readonly kept: LRUCache<UserVector, readonly Kept[]> | null;
  /** Retrieves answered from a kept answer, and kept answers found changed (newsrec_kept_answers_total). */
  readonly counts = { reused: 0, stale: 0 };

  constructor(
    private readonly catalog: Catalog,
    /** Memory for kept answers and their response texts, about (0: none kept). */
    maxBytes: number,
  ) {
    this.kept = maxBytes > 0 ? new LRUCache<UserVector, readonly Kept[]>({ maxSize: maxBytes, sizeCalculation: sizeOfAll }) : null;
  }

  get enabled(): boolean {
    return this.kept !== null;
  }

  /** Keeps an answer; `position`: the catalog's writePosition taken before its search was asked. */
  keep(user: UserVector, key: string, position: number, k: number, hits: readonly Scored[], exact: boolean): void {
    if (!this.kept) return;
    const others = (this.kept.peek(user) ?? []).filter((e) => e.key !== key);
    this.kept.set(user, [{ key, user, position, k, hits, exact }, ...others].slice(0, PER_USER));
  }

  /**
   * The answer kept for this user vector and key when the catalog, as it is now, still gives it;
   * else null. `exactNow`: whether a search now would be exact (a catalog grown or shrunk across
   * a threshold, a filter matching fewer items): a graph answer is then searched again, while an
   * exact one holds whatever a search would do.
   */
  reuse(user: UserVector, key: string, filter: SearchFilter, exactNow: () => boolean, now = Date.now()): KeptAnswer | null {
    const list = this.kept?.get(user);
    if (!list) return null;
    let e: Kept | undefined;
    for (let i = 0; i < list.length && !e; i++) if (list[i]!.key === key) e = list[i];
    if (!e) return null;
    if (!e.exact && exactNow()) return this.stale(e);
    const c = this.catalog;
    const hits = e.hits;
    // A kept item deleted or rewritten is in the log; the one change the log does not list is an item aging out.
    const bound = c.publishedBound(filter, now);
    if (bound > -Infinity) for (let i = 0; i < hits.length; i++) if (c.publishedAtMs(hits[i]!.slot) < bound) return this.stale(e);
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
    if (!unchanged) return this.stale(e);
    e.position = c.writePosition;
    this.counts.reused++;
    return e;
  }

  /** The response text last made for a kept answer, if held. */
  textOf(answer: KeptAnswer): Buffer | undefined {
    return (answer as Kept).text;
  }

  /**
   * Holds a kept answer's response text with it, as a copy of its own rather than a view of a
   * shared pool, while the answer is still the one kept; returns what it holds. Any write to one
   * of the answer's items makes it stale, so the text cannot be older than its items.
   */
  keepText(answer: KeptAnswer, text: Uint8Array): Buffer | undefined {
    const e = answer as Kept;
    const list = this.kept?.peek(e.user);
    if (!list?.includes(e)) return undefined;
    const own = Buffer.allocUnsafeSlow(text.length);
    own.set(text);
    const next = list.map((x) => (x === e ? { ...e, text: own } : x));
    if (sizeOfAll(next) > this.kept!.maxSize) return undefined;
    this.kept!.set(e.user, next);
    return own;
  }

  private stale(e: Kept): null {
    const rest = (this.kept?.peek(e.user) ?? []).filter((x) => x !== e);
    if (rest.length) this.kept!.set(e.user, rest);
    else this.kept?.delete(e.user);
    this.counts.stale++;
    return null;
  }
}
