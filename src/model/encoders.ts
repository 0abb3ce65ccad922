/**
 * The encoders of one bundle, as the rest of the server sees them: news text in, vector out;
 * click history in, user vector (and attention) out. Single calls are micro-batched; batch
 * precompute calls encodeNewsBatch directly.
 */
import { NewsrecError } from "../errors.ts";
import type { Bundle, Manifest } from "./bundle.ts";
import { MicroBatcher, type BatcherOptions } from "./batcher.ts";
import type { Feed, Provider } from "./onnx.ts";
import { WorkerPool } from "./pool.ts";
import { TextTokenizer, type NewsText } from "./tokenizer.ts";
import { readTopKModel } from "./scoring.ts";
import type { TopKRows } from "./topk-wire.ts";
import type { SharedMatrix } from "../index/shared-matrix.ts";

export interface EncoderOptions {
  workers: number;
  intraOpThreads: number;
  providers: Provider[];
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  log: (line: string) => void;
  onBatch?: (encoder: "news" | "user", size: number, waits: number[]) => void;
  /** A run unanswered this long means a hung worker: the run fails and the worker is replaced (default 30 s). */
  runTimeoutMs?: number;
  /** Delay before replacing a dead worker, doubling with each death in a row (default 100 ms). */
  restartDelayMs?: number;
  /** The worker thread's entry module (tests inject faults through one). */
  workerEntry?: URL;
  /** A dead worker's replacement is up. */
  onWorkerRestart?: () => void;
  /** The count of live workers changed. */
  onWorkersAlive?: (alive: number) => void;
  /** The exact-scoring graph's bytes (default: the shipped models/scoring/topk.onnx; null: none). */
  topkModel?: Uint8Array | null;
  /** Exact scoring keeps a copy of a catalog matrix up to this size in each worker and streams larger ones (model/topk-run.ts). */
  exactMirrorMaxBytes?: number;
  /** The chunk a streamed matrix goes through (default 8 MiB). */
  exactChunkBytes?: number;
}

export type EncoderHealth = { ok: true } | { ok: false; reason: string };

export interface UserVector {
  vector: Float32Array;
  /** Attention weight of each history item (hierarchical bundles), oldest first. */
  attention?: Float32Array;
}

/**
 * The user encoder's input: the history's news vectors (hierarchical), its titles newest first
 * (siamese), or its news vectors and the token ids of its last tokens.maxNews clicks, both oldest
 * first (FUM).
 */
export type UserInput =
  | { kind: "vectors"; vectors: Float32Array[] }
  | { kind: "titles"; titlesNewestFirst: string[] }
  | { kind: "vectorsAndTokens"; vectors: Float32Array[]; tokens: ArrayLike<number>[] };

/** What the user encoder's input is read from: the catalog, by slot. */
export interface HistorySource {
  vectorAt(slot: number): Float32Array;
  metaAt(slot: number): { title: string };
  /** The item's token ids as the catalog keeps them (null: it keeps none). */
  tokensAt(slot: number): ArrayLike<number> | null;
}

/** The user encoder's input for a known history (catalog slots, oldest first), by the bundle's user input kind. */
export function historyInput(manifest: Manifest, slots: number[], c: HistorySource): UserInput {
  const spec = manifest.encoders.user;
  switch (spec.input) {
    case "news_vectors":
      return { kind: "vectors", vectors: slots.map((s) => c.vectorAt(s)) };
    case "history_titles":
      return { kind: "titles", titlesNewestFirst: slots.map((s) => c.metaAt(s).title).reverse() };
    case "news_tokens_and_vectors":
      return {
        kind: "vectorsAndTokens",
        vectors: slots.map((s) => c.vectorAt(s)),
        tokens: slots.slice(-spec.tokens.maxNews).map((s) => {
          const t = c.tokensAt(s);
          if (!t?.length) throw new Error(`catalog slot ${s} has no token ids, which this model's user encoder reads`);
          return t;
        }),
      };
  }
}

function padIds(rows: number[][]): Record<string, Feed> {
  const len = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * len);
  const mask = new BigInt64Array(rows.length * len);
  rows.forEach((r, i) => {
    for (let j = 0; j < r.length; j++) {
      ids[i * len + j] = BigInt(r[j]!);
      mask[i * len + j] = 1n;
    }
  });
  const dims = [rows.length, len];
  return { ids: { kind: "int64", data: ids, dims }, mask: { kind: "int64", data: mask, dims } };
}

/**
 * FUM's token inputs, int64 [B, N, T]: each user's clicked news (at most tokens.maxNews, oldest
 * first) padded to the batch's most news N and each news to the batch's longest T, with their mask.
 * The padding is masked, so a vector does not depend on its batch.
 */
function padClicks(users: ArrayLike<number>[][]): { ids: Feed; mask: Feed } {
  const n = Math.max(1, ...users.map((u) => u.length));
  let t = 1;
  for (const u of users) for (const row of u) t = Math.max(t, row.length);
  const ids = new BigInt64Array(users.length * n * t);
  const mask = new BigInt64Array(users.length * n * t);
  users.forEach((u, i) =>
    u.forEach((row, j) => {
      const at = (i * n + j) * t;
      for (let k = 0; k < row.length; k++) {
        ids[at + k] = BigInt(row[k]!);
        mask[at + k] = 1n;
      }
    }),
  );
  const dims = [users.length, n, t];
  return { ids: { kind: "int64", data: ids, dims }, mask: { kind: "int64", data: mask, dims } };
}

function split(data: Float32Array, rows: number, dim: number): Float32Array[] {
  return Array.from({ length: rows }, (_, i) => data.slice(i * dim, (i + 1) * dim));
}

export class Encoders {
  readonly tokenizer: TextTokenizer;
  readonly dim: number;
  private readonly newsBatcher: MicroBatcher<number[], Float32Array>;
  private readonly userBatcher: MicroBatcher<UserInput, UserVector>;

  private constructor(
    readonly bundle: Bundle,
    private readonly pool: WorkerPool,
    o: EncoderOptions,
  ) {
    this.tokenizer = new TextTokenizer(bundle.tokenizerJson, bundle.manifest);
    this.dim = bundle.manifest.dimension;
    const common: Omit<BatcherOptions, "name" | "onBatch"> = { maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue, concurrency: o.workers };
    this.newsBatcher = new MicroBatcher({ ...common, name: "news", onBatch: (n, w) => o.onBatch?.("news", n, w) }, (rows) => this.runNews(rows));
    this.userBatcher = new MicroBatcher({ ...common, name: "user", onBatch: (n, w) => o.onBatch?.("user", n, w) }, (xs) => this.runUsers(xs));
  }

  static async open(bundle: Bundle, o: EncoderOptions): Promise<Encoders> {
    const topkModel = o.topkModel === undefined ? readTopKModel(o.log) : o.topkModel;
    const pool = await WorkerPool.start(
      o.workers,
      {
        newsModel: bundle.newsEncoderBytes,
        userModel: bundle.userEncoderBytes,
        newsFile: bundle.manifest.encoders.news.file,
        userFile: bundle.manifest.encoders.user.file,
        providers: o.providers,
        intraOpThreads: o.intraOpThreads,
        topkModel,
        exactMirrorMaxBytes: o.exactMirrorMaxBytes,
        exactChunkBytes: o.exactChunkBytes,
      },
      {
        log: o.log,
        runTimeoutMs: o.runTimeoutMs,
        restartDelayMs: o.restartDelayMs,
        entry: o.workerEntry,
        onRestart: o.onWorkerRestart,
        onAlive: o.onWorkersAlive,
      },
    );
    const enc = new Encoders(bundle, pool, o);
    enc.canScoreExactly = topkModel !== null;
    return enc;
  }

  /** Whether the workers hold the exact-scoring graph (scoreTopK). */
  canScoreExactly = false;

  /**
   * The k rows of `matrix` of largest dot product with each of `batch` queries (row-major in
   * `queries`), best first, by the exact-scoring graph in a worker. 1 <= k <= matrix.rows.
   * Not micro-batched: callers batch their own queries.
   */
  async scoreTopK(queries: Float32Array, batch: number, k: number, matrix: SharedMatrix): Promise<TopKRows> {
    const refused = this.refusal();
    if (refused) throw refused;
    return this.pool.runTopK(queries, batch, k, matrix);
  }

  get provider(): Provider {
    return this.pool.provider;
  }

  /** Not ok while no worker is alive (all dead, restarting) or once closed: readiness follows it. */
  health(): EncoderHealth {
    const reason = this.pool.unavailableReason;
    return reason ? { ok: false, reason } : { ok: true };
  }

  /** Live encoder workers. */
  get alive(): number {
    return this.pool.alive;
  }

  /** The live workers' thread ids (diagnostics, fault drills). */
  get workerThreadIds(): number[] {
    return this.pool.threadIds;
  }

  /** Ends one worker's thread as a crash would; it is replaced like any dead worker. */
  terminateWorker(threadId: number): Promise<void> {
    return this.pool.terminateWorker(threadId);
  }

  /** Resolves once every worker is alive (after a restart, say). */
  whenAllAlive(): Promise<void> {
    return this.pool.whenAllAlive();
  }

  /** With no live worker, work is refused before it queues: nothing could run it. */
  private refusal(): NewsrecError | null {
    const reason = this.pool.unavailableReason;
    return reason ? new NewsrecError("UNAVAILABLE", `${reason}; retry`) : null;
  }

  /** One news item, micro-batched with concurrent calls. */
  encodeNews(n: NewsText): Promise<Float32Array> {
    const refused = this.refusal();
    return refused ? Promise.reject(refused) : this.newsBatcher.submit(this.tokenizer.news(n));
  }

  /**
   * The token ids the catalog keeps of an item for the user encoder (FUM), made when the item is
   * written; null when the bundle's user encoder reads none (nothing is kept then).
   */
  clickTokens(n: NewsText): number[] | null {
    return this.tokenizer.clickedNews(n);
  }

  /** Token ids already made (batch precompute tokenizes ahead of inference). */
  async encodeNewsBatch(rows: number[][]): Promise<Float32Array[]> {
    return this.runNews(rows);
  }

  /**
   * deadline: an absolute performance.now() time; signal: aborted when the caller's client has
   * gone. Either ends the wait at once, and queued work is then dropped unrun.
   */
  encodeUser(input: UserInput, deadline?: number, signal?: AbortSignal): Promise<UserVector> {
    const refused = this.refusal();
    return refused ? Promise.reject(refused) : this.userBatcher.submit(input, deadline, signal);
  }

  private async runNews(rows: number[][]): Promise<Float32Array[]> {
    const spec = this.bundle.manifest.encoders.news;
    const { ids, mask } = padIds(rows);
    const out = await this.pool.run("news", { [spec.inputs.ids]: ids!, [spec.inputs.mask]: mask! }, [spec.outputs.vector]);
    return split(out[spec.outputs.vector]!.data, rows.length, this.dim);
  }

  private async runUsers(xs: UserInput[]): Promise<UserVector[]> {
    const spec = this.bundle.manifest.encoders.user;
    if (spec.input === "history_titles") {
      const rows = xs.map((x) => (x.kind === "titles" ? this.tokenizer.userTitles(x.titlesNewestFirst) : []));
      const { ids, mask } = padIds(rows);
      const out = await this.pool.run("user", { [spec.inputs.ids]: ids!, [spec.inputs.mask]: mask! }, [spec.outputs.vector]);
      return split(out[spec.outputs.vector]!.data, xs.length, this.dim).map((vector) => ({ vector }));
    }
    const hists = xs.map((x) => (x.kind === "titles" ? [] : x.vectors));
    const h = Math.max(...hists.map((v) => v.length));
    const d = this.dim;
    const vecs = new Float32Array(xs.length * h * d);
    const mask = new Float32Array(xs.length * h);
    hists.forEach((hist, i) => {
      hist.forEach((v, j) => {
        vecs.set(v, (i * h + j) * d);
        mask[i * h + j] = 1;
      });
    });
    const feeds: Record<string, Feed> = {
      [spec.inputs.vectors]: { kind: "float32", data: vecs, dims: [xs.length, h, d] },
      [spec.inputs.mask]: { kind: "float32", data: mask, dims: [xs.length, h] },
    };
    if (spec.input === "news_tokens_and_vectors") {
      const { ids, mask: tokenMask } = padClicks(xs.map((x) => (x.kind === "vectorsAndTokens" ? x.tokens : [])));
      feeds[spec.inputs.tokenIds] = ids;
      feeds[spec.inputs.tokenMask] = tokenMask;
    }
    const outputs = [spec.outputs.vector, ...(spec.outputs.attention ? [spec.outputs.attention] : [])];
    const out = await this.pool.run("user", feeds, outputs);
    const users = split(out[spec.outputs.vector]!.data, xs.length, d);
    const attn = spec.outputs.attention ? out[spec.outputs.attention]!.data : null;
    return users.map((vector, i) => (attn ? { vector, attention: attn.slice(i * h, i * h + hists[i]!.length) } : { vector }));
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
