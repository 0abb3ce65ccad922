/**
 * An encoder worker thread: owns the ONNX sessions of one bundle and runs the batches the
 * pool sends it, so inference never blocks the main thread's event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, TRANSFER_MIN_BYTES, type Feed, type LoadedSession, type Provider } from "./onnx.ts";
import type { SharedMatrix } from "../index/shared-matrix.ts";
import { TOPK_IO } from "./scoring.ts";
import { TopKRunner } from "./topk-run.ts";

/**
 * The encoders come as the bytes the bundle verified, not as paths to open again. When news and
 * user share one file, both fields hold the same object; structured cloning keeps that identity,
 * so the worker opens one session for both.
 */
export interface WorkerInit {
  newsModel: Uint8Array;
  userModel: Uint8Array;
  /** File names, for error messages. */
  newsFile: string;
  userFile: string;
  providers: Provider[];
  intraOpThreads: number;
  /** The exact-scoring graph (model/scoring.ts), opened as a third session; null: none. */
  topkModel?: Uint8Array | null;
  /** Exact scoring mirrors a matrix up to this size and streams larger ones (model/topk-run.ts). */
  exactMirrorMaxBytes?: number;
  /** The chunk a streamed matrix goes through. */
  exactChunkBytes?: number;
}

export interface WorkerRequest {
  id: number;
  encoder: "news" | "user" | "topk";
  feeds: Record<string, Feed>;
  outputs: string[];
  /**
   * topk: the catalog's shared matrix, fed as the graph's matrix input from this worker's
   * mirror. Sent when it differs from the last one this worker was handed (the pool remembers);
   * otherwise the worker uses that one.
   */
  matrix?: Omit<SharedMatrix, "rows">;
  /** topk: the matrix's rows in use now. */
  rows?: number;
}

type WorkerOutputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

export type WorkerReply = { id: number; outputs: WorkerOutputs } | { id: number; error: string };

export type WorkerHello = { ready: true; provider: Provider; logs: string[] } | { ready: false; error: string };

async function start(): Promise<void> {
  const init = workerData as WorkerInit;
  const logs: string[] = [];
  const opts = { providers: init.providers, intraOpThreads: init.intraOpThreads, log: (l: string) => logs.push(l) };
  let news: LoadedSession;
  let user: LoadedSession;
  let topk: LoadedSession | null;
  let topkRunner: TopKRunner | null = null;
  let matrix: Omit<SharedMatrix, "rows"> | null = null;
  try {
    news = await openSession(init.newsModel, init.newsFile, opts);
    user = init.userModel === init.newsModel ? news : await openSession(init.userModel, init.userFile, opts);
    // On the provider the encoders got: one fallback line, not another, and scoring on the same device.
    topk = init.topkModel ? await openSession(init.topkModel, "topk.onnx", { ...opts, providers: [news.provider] }) : null;
    if (topk && topk.session.inputNames.join() !== TOPK_IO.inputs.join())
      throw new Error(`topk.onnx has inputs ${topk.session.inputNames.join(", ")}, not ${TOPK_IO.inputs.join(", ")}`);
    if (topk) topkRunner = new TopKRunner(topk.session, init.exactMirrorMaxBytes, init.exactChunkBytes);
  } catch (err) {
    parentPort!.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerHello);
    return;
  }
  parentPort!.on("message", async (req: WorkerRequest) => {
    try {
      let outputs: WorkerOutputs;
      if (req.encoder === "topk") {
        if (!topkRunner) throw new Error("no exact-scoring graph is loaded");
        if (req.matrix) matrix = req.matrix;
        if (!matrix || req.rows === undefined) throw new Error("a topk run without its matrix");
        const [q, , kIn] = TOPK_IO.inputs;
        const query = req.feeds[q]!;
        const batch = query.dims[0]!;
        const k = Number(req.feeds[kIn]!.data[0]);
        const a = await topkRunner.run(query.data as Float32Array, batch, k, { ...matrix, rows: req.rows });
        const [scores, indices] = TOPK_IO.outputs;
        outputs = { [scores]: { data: a.scores, dims: [batch, k] }, [indices]: { data: a.indices as unknown as Float32Array, dims: [batch, k] } };
      } else {
        outputs = await runSession(req.encoder === "news" ? news.session : user.session, req.feeds, req.outputs);
      }
      const transfer = Object.values(outputs).flatMap((o) => (o.data.byteLength >= TRANSFER_MIN_BYTES ? [o.data.buffer as ArrayBuffer] : []));
      parentPort!.postMessage({ id: req.id, outputs } satisfies WorkerReply, transfer);
    } catch (err) {
      // Whatever was thrown, the pool gets an answer: a throw here would kill the thread.
      parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
  parentPort!.postMessage({ ready: true, provider: news.provider, logs } satisfies WorkerHello);
}

void start();
