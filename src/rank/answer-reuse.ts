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
import type { Catalog, SearchFilter } from "../catalog/store.ts";
import type { UserVector } from "../model/encoders.ts";
import type { RankRequest, Scored } from "./types.ts";

interface Kept {
  /** The request's k and filter (answerKey). */
  key: string;
  /** The catalog's writePosition when the answer's search was asked, or last found unchanged. */
  position: number;
  k: number;
  hits: readonly Scored[];
}

/** What makes two retrieves of one user vector the same search: k, the filter and whether the history is excluded. */
export function answerKey(k: number, req: Pick<RankRequest, "excludeHistory" | "filter">): string {
  const f = req.filter;
  const categories = f?.categories?.length ? f.categories.join("\u0001") : "";
  return `${k}\u0000${req.excludeHistory === false ? 0 : 1}\u0000${f?.maxAgeHours ?? ""}\u0000${categories}`;
}

export class AnswerReuse {
  private readonly kept = new WeakMap<UserVector, Kept[]>();
  /** Retrieves answered from a kept answer, and kept answers found changed (newsrec_retrieve_answers_total). */
  readonly counts = { reused: 0, stale: 0 };

  constructor(
    private readonly catalog: Catalog,
    /** Answers kept per user vector (0: none). */
    private readonly perUser: number,
  ) {}

  get enabled(): boolean {
    return this.perUser > 0;
  }

  /** Keeps an answer; `position`: the catalog's writePosition taken before its search was asked. */
  keep(user: UserVector, key: string, position: number, k: number, hits: readonly Scored[]): void {
    if (this.perUser <= 0) return;
    let list = this.kept.get(user);
    if (!list) this.kept.set(user, (list = []));
    const i = list.findIndex((e) => e.key === key);
    if (i >= 0) list.splice(i, 1);
    list.unshift({ key, position, k, hits });
    if (list.length > this.perUser) list.length = this.perUser;
  }

  /** The answer kept for this user vector and key when the catalog, as it is now, still gives it; else null. */
  reuse(user: UserVector, key: string, filter: SearchFilter, now = Date.now()): readonly Scored[] | null {
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
    return hits;
  }

  private stale(list: Kept[], e: Kept): null {
    list.splice(list.indexOf(e), 1);
    this.counts.stale++;
    return null;
  }
}
