/**
 * An exact-scoring run in an encoder worker: the TopK graph over the catalog's matrix, which
 * onnxruntime reads only from the worker's own (non-shared) memory.
 *
 * A matrix up to mirrorMaxBytes is mirrored: the worker keeps a private copy, brought up to
 * date before each run by copying the rows written since (index/shared-matrix.ts), and the
 * graph runs once over it. That is the fast path that small catalogs take on every request.
 *
 * A larger matrix is streamed: its rows are copied a chunk at a time into one buffer of
 * chunkBytes, the graph runs per chunk, and each query's per-chunk answers are merged. A
 * mirror of a million 64-dimensional vectors would hold 244 MiB beside the catalog's own
 * matrix; at that size exact runs are the recall monitor's samples and tuning's oracle, not
 * requests, and each streamed run costs a read of the matrix, which its product reads anyway
 * (benchmarks/RESULTS.md, "A million news").
 */
import { MatrixMirror, type SharedMatrix } from "../index/shared-matrix.ts";
import { runSession, type LoadedSession } from "./onnx.ts";
import { TOPK_IO } from "./scoring.ts";

export const DEFAULT_MIRROR_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

export interface TopKAnswer {
  scores: Float32Array;
  indices: BigInt64Array;
}

export class TopKRunner {
  private readonly mirror = new MatrixMirror();
  private chunk = new Float32Array(0);
  /** Streamed runs share the chunk buffer, so they go one at a time (the worker takes messages while a run awaits). */
  private streaming: Promise<unknown> = Promise.resolve();
  /** Runs that streamed (diagnostics, tests). */
  streamedRuns = 0;

  constructor(
    private readonly session: LoadedSession["session"],
    private readonly mirrorMaxBytes = DEFAULT_MIRROR_MAX_BYTES,
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {}

  /** Each of `batch` queries' k best rows (k <= m.rows), best first: [batch, k] scores and row indices. */
  async run(queries: Float32Array, batch: number, k: number, m: SharedMatrix): Promise<TopKAnswer> {
    if (m.rows * m.dim * Float32Array.BYTES_PER_ELEMENT <= this.mirrorMaxBytes) {
      return this.once(queries, batch, k, this.mirror.sync(m), m.rows, m.dim);
    }
    this.mirror.clear();
    const run = this.streaming.then(() => this.streamed(queries, batch, k, m));
    this.streaming = run.catch(() => {});
    return run;
  }

  private async once(queries: Float32Array, batch: number, k: number, matrix: Float32Array, rows: number, dim: number): Promise<TopKAnswer> {
    const [q, mx, kIn] = TOPK_IO.inputs;
    const out = await runSession(
      this.session,
      {
        [q]: { kind: "float32", data: queries, dims: [batch, dim] },
        [mx]: { kind: "float32", data: matrix, dims: [rows, dim] },
        [kIn]: { kind: "int64", data: BigInt64Array.of(BigInt(k)), dims: [1] },
      },
      [...TOPK_IO.outputs],
    );
    return { scores: out[TOPK_IO.outputs[0]]!.data, indices: out[TOPK_IO.outputs[1]]!.data as unknown as BigInt64Array };
  }

  private async streamed(queries: Float32Array, batch: number, k: number, m: SharedMatrix): Promise<TopKAnswer> {
    const d = m.dim;
    const chunkRows = Math.max(1, Math.floor(this.chunkBytes / (d * Float32Array.BYTES_PER_ELEMENT)));
    if (this.chunk.length !== chunkRows * d) this.chunk = new Float32Array(chunkRows * d);
    const chunk = this.chunk;
    this.streamedRuns++;
    // Each query's best so far, best first; a chunk's answer is merged in.
    let scores = new Float32Array(0);
    let indices = new BigInt64Array(0);
    let kept = 0;
    for (let start = 0; start < m.rows; start += chunkRows) {
      const n = Math.min(chunkRows, m.rows - start);
      chunk.set(m.vectors.subarray(start * d, (start + n) * d));
      const kk = Math.min(k, n);
      const got = await this.once(queries, batch, kk, chunk.subarray(0, n * d), n, d);
      const next = Math.min(k, kept + kk);
      const s = new Float32Array(batch * next);
      const ix = new BigInt64Array(batch * next);
      for (let b = 0; b < batch; b++) mergeInto(s, ix, b * next, next, scores, indices, b * kept, kept, got.scores, got.indices, b * kk, kk, start);
      scores = s;
      indices = ix;
      kept = next;
    }
    return { scores, indices };
  }
}

/**
 * Merges two best-first lists into `n` entries of (outS, outI) from `at`: the kept list (a, of
 * length an) and a chunk's answer (c, of length cn, its indices relative to the chunk, which
 * starts at row `offset`). On equal scores the kept entry (an earlier row) goes first.
 */
function mergeInto(
  outS: Float32Array,
  outI: BigInt64Array,
  at: number,
  n: number,
  aS: Float32Array,
  aI: BigInt64Array,
  aAt: number,
  an: number,
  cS: Float32Array,
  cI: BigInt64Array,
  cAt: number,
  cn: number,
  offset: number,
): void {
  const shift = BigInt(offset);
  let i = 0;
  let j = 0;
  for (let o = 0; o < n; o++) {
    if (j >= cn || (i < an && aS[aAt + i]! >= cS[cAt + j]!)) {
      outS[at + o] = aS[aAt + i]!;
      outI[at + o] = aI[aAt + i]!;
      i++;
    } else {
      outS[at + o] = cS[cAt + j]!;
      outI[at + o] = cI[cAt + j]! + shift;
      j++;
    }
  }
}
