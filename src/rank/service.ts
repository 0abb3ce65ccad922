/**
 * The rank service: transport-free core of /rank and gRPC Rank.
 *
 * Cold start: a history with no known item has no user vector; the service then returns the
 * freshest items (retrieve) or the candidates newest first (rerank), each with score 0, and
 * sets coldStart.
 */
import type { Catalog, SearchFilter } from "../catalog/store.ts";
import type { Cancellation } from "../api/admission.ts";
import { invalid } from "../errors.ts";
import { ExactBatcher } from "../index/onnx-exact.ts";
import { historyInput, type Encoders, type UserVector } from "../model/encoders.ts";
import type { Metrics } from "../metrics.ts";
import { AnswerReuse, answerKey } from "./answer-reuse.ts";
import type { UserCache } from "./cache.ts";
import { beforeDeadline } from "./deadline.ts";
import { isPlainHead, rankJson } from "./rank-json.ts";
import type { RankAnswer, RankedItem, RankRequest, RankResponse, Scored } from "./types.ts";

/** Items a retrieve answers when no k is given (a rerank answers every known candidate). */
export const DEFAULT_K = 10;
export const MAX_K = 1000;

export class RankService {
  /** Called with each retrieve's answer once computed (the recall monitor); must return at once. */
  onRetrieved?: (query: Float32Array, k: number, filter: SearchFilter, items: readonly Scored[]) => void;
  constructor(
    private readonly catalog: Catalog,
    private readonly encoders: Encoders,
    private readonly cache: UserCache,
    private readonly metrics: Metrics,
    /** Unfiltered retrieves on catalogs up to this size are exact, in a worker (0: never). */
    private readonly workerExactMaxItems = 0,
    /** Memory for retrieve answers kept and given again while the catalog still gives them, with their response texts (answer-reuse.ts; 0: none). */
    keptAnswersMaxBytes = 0,
  ) {
    this.answers = new AnswerReuse(catalog, keptAnswersMaxBytes);
    this.exact = new ExactBatcher(
      catalog,
      (q, b, kk, m) => this.encoders.scoreTopK(q, b, kk, m),
      () => this.encoders.alive,
    );
  }

  /** Whole-catalog exact retrieves, batched per turn of the event loop and while every encoder worker is busy. */
  private readonly exact: ExactBatcher;
  /** Answers kept beside their user vectors (counts: newsrec_kept_answers_total). */
  readonly answers: AnswerReuse;

  /** The served model, one object for every response (rank-json.ts keys the texts of response heads by it). */
  get model(): RankResponse["model"] {
    const m = this.encoders.bundle.manifest;
    return (this.modelRef ??= Object.freeze({ name: m.name, version: m.version, fingerprint: m.fingerprint }));
  }
  private modelRef?: RankResponse["model"];

  private item(slot: number, score: number): RankedItem {
    const { id, ...meta } = this.catalog.metaAt(slot);
    return { newsId: id, score, ...meta };
  }

  /** The user vector for a known history, from the cache or the encoder. */
  async userVector(
    userId: string | undefined,
    known: string[],
    slots: number[],
    deadline?: number,
    cancel?: Cancellation,
  ): Promise<{ user: UserVector; hit: boolean }> {
    const { key, cached } = this.lookup(userId, known);
    if (cached) return { user: cached, hit: true };
    return { user: await this.encode(key, slots, deadline, cancel), hit: false };
  }

  /** The cache's entry for a history (no await: a cache hit goes on in the same turn). */
  private lookup(userId: string | undefined, known: string[]): { key: string; cached: UserVector | undefined } {
    const stop = this.metrics.stage("cache_lookup");
    const key = this.cache.key(userId, known);
    const cached = this.cache.get(key);
    stop();
    this.metrics.lookups[cached ? "hit" : "miss"]++;
    return { key, cached };
  }

  /** Encodes a history missing from the cache, and caches it. */
  private async encode(key: string, slots: number[], deadline?: number, cancel?: Cancellation): Promise<UserVector> {
    const stop = this.metrics.stage("user_encoding");
    // The catalog's vectors, titles or token ids, as the bundle's user encoder reads them: nothing is tokenized here.
    const user = await this.encoders.encodeUser(historyInput(this.encoders.bundle.manifest, slots, this.catalog), deadline, cancel?.signal);
    stop();
    this.cache.set(key, user);
    this.metrics.cacheEntries.set(this.cache.size);
    return user;
  }

  /**
   * deadline: an absolute performance.now() time past which queued encoder work is abandoned
   * and a search still unanswered fails (DEADLINE_EXCEEDED);
   * cancel: its signal is aborted when the client has gone, which drops its queued work at once
   * (read only when work is queued: a cache-hit rank never makes one).
   */
  async rank(req: RankRequest, deadline?: number, cancel?: Cancellation): Promise<RankResponse> {
    return this.response(await this.answer(req, deadline, cancel));
  }

  /** The response of an answer, its items as objects (gRPC, protobuf bodies, eval). */
  response(a: RankAnswer): RankResponse {
    return { ...a.head, items: a.hits.map((h) => this.item(h.slot, h.score)) };
  }

  /** The response of an answer as JSON bytes, its items' metadata spliced from the catalog's stored bytes (rank-json.ts). */
  json(a: RankAnswer): Buffer {
    // A kept answer given again with a head of nothing but its mode, cache result and model has one text.
    const plain = a.kept && isPlainHead(a.head);
    const kept = plain ? this.answers.textOf(a.kept!) : undefined;
    if (kept) return kept;
    const out = rankJson(a, this.catalog, (h) => this.item(h.slot, h.score));
    return (plain && this.answers.keepText(a.kept!, out)) || out;
  }

  /** What rank() answers, before its items are made objects or bytes. */
  async answer(req: RankRequest, deadline?: number, cancel?: Cancellation): Promise<RankAnswer> {
    if (req.k !== undefined && (!Number.isInteger(req.k) || req.k < 1 || req.k > MAX_K)) throw invalid("k", `must be an integer from 1 to ${MAX_K}`);
    const k = req.k ?? DEFAULT_K;
    const maxHistory = this.encoders.bundle.manifest.userInput.maxHistory;

    let stop = this.metrics.stage("history_lookup");
    const unknownHistory: string[] = [];
    const knownAll: string[] = [];
    const slotsAll: number[] = [];
    for (const id of req.history) {
      const slot = this.catalog.slotOf(id);
      if (slot === undefined) unknownHistory.push(id);
      else {
        knownAll.push(id);
        slotsAll.push(slot);
      }
    }
    const known = knownAll.length > maxHistory ? knownAll.slice(-maxHistory) : knownAll;
    const slots = slotsAll.length > maxHistory ? slotsAll.slice(-maxHistory) : slotsAll;
    stop();

    const filter: SearchFilter = {};
    if (req.filter?.categories?.length) filter.categories = new Set(req.filter.categories);
    if (req.filter?.maxAgeHours !== undefined) filter.publishedAfter = Date.now() - req.filter.maxAgeHours * 3600_000;
    if (req.excludeHistory !== false) filter.exclude = new Set(slotsAll);

    const coldStart = known.length === 0;
    let user: UserVector | null = null;
    let userCache: RankResponse["userCache"] = "none";
    if (!coldStart) {
      const { key, cached } = this.lookup(req.userId, known);
      user = cached ?? (await this.encode(key, slots, deadline, cancel));
      userCache = cached ? "hit" : "miss";
    } else {
      this.metrics.coldStarts.inc();
    }

    const explanation = req.explain && user ? this.explain(user, known, slots) : undefined;
    const head = (mode: RankResponse["mode"], unknownCandidates: string[]): RankResponse => {
      // One literal, in the response's key order (no spread: a cache-hit rank makes one per request).
      const h: RankResponse = { mode, userCache, coldStart, model: this.model, unknownHistory, items: [], unknownCandidates };
      if (explanation) h.explanation = explanation;
      return h;
    };

    if (req.candidates) {
      stop = this.metrics.stage("scoring");
      const unknownCandidates: string[] = [];
      const scored: Scored[] = [];
      const seen = new Set<string>();
      for (const id of req.candidates) {
        const slot = this.catalog.slotOf(id);
        if (slot === undefined) {
          unknownCandidates.push(id);
          continue;
        }
        if (seen.has(id)) continue;
        seen.add(id);
        scored.push({ slot, score: user ? this.catalog.scoreAt(user.vector, slot) : 0 });
      }
      if (user) scored.sort((a, b) => b.score - a.score);
      else {
        // The catalog's column, not each item's metadata (which may be read from a file).
        const published = (h: Scored) => this.catalog.publishedAtMs(h.slot) || 0;
        scored.sort((a, b) => published(b) - published(a));
      }
      stop();
      // The impression is the caller's: every known candidate comes back unless k caps it.
      const hits = req.k === undefined ? scored : scored.slice(0, req.k);
      return { head: head("rerank", unknownCandidates), hits };
    }

    stop = this.metrics.stage("retrieval");
    let found: Pick<RankAnswer, "hits" | "kept"> | Promise<Pick<RankAnswer, "hits" | "kept">> = user
      ? this.userHits(user, k, req, filter, knownAll.length === known.length, deadline)
      : { hits: this.catalog.freshestSlots(filter, k).map((slot) => ({ slot, score: 0 })) };
    // A kept answer comes back at once: no turn of the event loop is spent waiting on it.
    if (found instanceof Promise) found = await found;
    stop();
    return { head: head("retrieve", []), hits: found.hits, kept: found.kept };
  }

  /**
   * A retrieve's items for a user vector: an answer kept for it when the catalog still gives it,
   * else a search, kept for next time. `whole`: the user vector was made from the whole history,
   * so its cache entry also stands for the history left out of the answer (a truncated one does not).
   */
  private userHits(
    user: UserVector,
    k: number,
    req: RankRequest,
    filter: SearchFilter,
    whole: boolean,
    deadline?: number,
  ): Pick<RankAnswer, "hits" | "kept"> | Promise<Pick<RankAnswer, "hits" | "kept">> {
    const key = whole && this.answers.enabled ? answerKey(k, req) : null;
    const kept = key ? this.answers.reuse(user, key, filter, () => this.wouldBeExact(filter)) : null;
    return kept ? { hits: kept.hits, kept } : this.search(user, k, filter, key, deadline);
  }

  /** A retrieve's search, its answer kept under `key` (when given) for the next one. */
  private async search(user: UserVector, k: number, filter: SearchFilter, key: string | null, deadline?: number): Promise<Pick<RankAnswer, "hits">> {
    // Before the search is asked: writes from here on are what a kept answer is checked against.
    const position = this.catalog.writePosition;
    const found = await beforeDeadline(this.retrieve(user.vector, k, filter), deadline, "the search");
    if (key) this.answers.keep(user, key, position, k, found.hits, found.exact);
    if (found.by === "graph") this.onRetrieved?.(user.vector, k, filter, found.hits);
    return { hits: found.hits };
  }

  /**
   * The top k for a user vector. A retrieve on a catalog of at most workerExactMaxItems whose
   * filter every item passes is scored exactly by the ONNX graph in an encoder worker, so the main
   * thread only hands the query over and gets the JavaScript exact scorer's answer (scores, order
   * and ties: ExactBatcher). Other filters, larger catalogs, and any failure of the worker go to
   * the catalog's own search (exact below exactMaxItems, else the graph).
   */
  private async retrieve(
    query: Float32Array,
    k: number,
    filter: SearchFilter,
  ): Promise<{ hits: { slot: number; score: number }[]; by: "worker" | "graph"; exact: boolean }> {
    const c = this.catalog;
    if (this.inWorker(filter)) {
      try {
        // Every item passed the filter (the request's and the catalog's age limit) when asked; one written out of
        // it meanwhile is dropped, and should that leave fewer than k where more match, the catalog's search answers.
        const hits = await this.exact.topK(query, k, filter.exclude, c.passes(filter));
        if (hits.length === k || hits.length >= c.matching(filter)) return { hits, by: "worker", exact: true };
      } catch {
        // A worker dying or being replaced: the main thread still answers.
      }
    }
    // Whether the catalog scores every matching item or walks the graph, as planned when asked.
    const exact = c.scoresExactly(filter);
    return { hits: await c.searchAsync(query, k, filter), by: "graph", exact };
  }

  /** Whether a retrieve with this filter goes to the exact graph in an encoder worker. */
  private inWorker(filter: SearchFilter): boolean {
    const c = this.catalog;
    return c.size <= this.workerExactMaxItems && this.encoders.canScoreExactly && c.matching(filter) === c.size;
  }

  /** Whether a retrieve with this filter now would be answered exactly (a kept graph answer is not given where one would). */
  private wouldBeExact(filter: SearchFilter): boolean {
    return this.inWorker(filter) || this.catalog.scoresExactly(filter);
  }

  /**
   * Attention weights when the user encoder gives them (hierarchical); otherwise each history
   * item's softmax-normalised dot product with the user vector.
   */
  private explain(user: UserVector, known: string[], slots: number[]): { newsId: string; weight: number }[] {
    if (user.attention) return known.map((newsId, i) => ({ newsId, weight: user.attention![i]! }));
    const s = slots.map((slot) => this.catalog.scoreAt(user.vector, slot));
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    return known.map((newsId, i) => ({ newsId, weight: e[i]! / z }));
  }
}
