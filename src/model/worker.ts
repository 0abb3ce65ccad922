/**
 * An encoder worker thread: owns the ONNX sessions of one bundle and runs the batches the
 * pool sends it, so inference never blocks the main thread's event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, TRANSFER_MIN_BYTES, type Feed, type LoadedSession, type Provider } from "./onnx.ts";
import { MatrixMirror, type SharedMatrix } from "../index/shared-matrix.ts";
import { TOPK_IO } from "./scoring.ts";

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

export type WorkerReply = { id: number; outputs: Record<string, { data: Float32Array; dims: readonly number[] }> } | { id: number; error: string };

export type WorkerHello = { ready: true; provider: Provider; logs: string[] } | { ready: false; error: string };

async function start(): Promise<void> {
  const init = workerData as WorkerInit;
  const logs: string[] = [];
  const opts = { providers: init.providers, intraOpThreads: init.intraOpThreads, log: (l: string) => logs.push(l) };
  let news: LoadedSession;
  let user: LoadedSession;
  let topk: LoadedSession | null;
  const mirror = new MatrixMirror();
  let matrix: Omit<SharedMatrix, "rows"> | null = null;
  try {
    news = await openSession(init.newsModel, init.newsFile, opts);
    user = init.userModel === init.newsModel ? news : await openSession(init.userModel, init.userFile, opts);
    // On the provider the encoders got: one fallback line, not another, and scoring on the same device.
    topk = init.topkModel ? await openSession(init.topkModel, "topk.onnx", { ...opts, providers: [news.provider] }) : null;
    if (topk && topk.session.inputNames.join() !== TOPK_IO.inputs.join())
      throw new Error(`topk.onnx has inputs ${topk.session.inputNames.join(", ")}, not ${TOPK_IO.inputs.join(", ")}`);
  } catch (err) {
    parentPort!.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerHello);
    return;
  }
  parentPort!.on("message", async (req: WorkerRequest) => {
    try {
      if (req.encoder === "topk") {
        if (!topk) throw new Error("no exact-scoring graph is loaded");
        if (req.matrix) matrix = req.matrix;
        if (!matrix || req.rows === undefined) throw new Error("a topk run without its matrix");
        const m = { ...matrix, rows: req.rows };
        // The catalog's rows as a plain array (onnxruntime refuses shared memory), copying only rows written since the last run.
        req.feeds[TOPK_IO.inputs[1]] = { kind: "float32", data: mirror.sync(m), dims: [m.rows, m.dim] };
      }
      const s = req.encoder === "topk" ? topk!.session : req.encoder === "news" ? news.session : user.session;
      const outputs = await runSession(s, req.feeds, req.outputs);
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
