/**
 * An encoder worker thread: owns the ONNX sessions of one bundle and runs the batches the
 * pool sends it, so inference never blocks the main thread's event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, TRANSFER_MIN_BYTES, type Feed, type LoadedSession, type Provider } from "./onnx.ts";
import type { SharedMatrix } from "../index/shared-matrix.ts";
import { TOPK_IO } from "./scoring.ts";
import { decodeAsk, encodeAnswer } from "./topk-wire.ts";
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

/**
 * A run of the news or user encoder; or the catalog's shared matrix, which exact-scoring runs
 * (flat buffers, topk-wire.ts) read until another one is handed over. The pool hands a worker
 * each matrix once, before the first run that needs it.
 */
export type WorkerRequest = { id: number; encoder: "news" | "user"; feeds: Record<string, Feed>; outputs: string[] } | { matrix: Omit<SharedMatrix, "rows"> };

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
  const reply = (msg: WorkerReply | ArrayBuffer, transfer: ArrayBuffer[]) => parentPort!.postMessage(msg, transfer);
  const failed = (id: number, err: unknown) =>
    // Whatever was thrown, the pool gets an answer: a throw here would kill the thread.
    reply({ id, error: err instanceof Error ? err.message : String(err) }, []);
  parentPort!.on("message", async (req: WorkerRequest | ArrayBuffer) => {
    if (req instanceof ArrayBuffer) {
      const ask = decodeAsk(req);
      try {
        if (!topkRunner) throw new Error("no exact-scoring graph is loaded");
        if (!matrix) throw new Error("a topk run without its matrix");
        const a = await topkRunner.run(ask.queries, ask.batch, ask.k, { ...matrix, rows: ask.rows });
        const answer = encodeAnswer(ask.id, ask.batch, ask.k, a.scores, a.indices);
        reply(answer, answer.byteLength >= TRANSFER_MIN_BYTES ? [answer] : []);
      } catch (err) {
        failed(ask.id, err);
      }
      return;
    }
    if ("matrix" in req) {
      matrix = req.matrix;
      return;
    }
    try {
      const outputs = await runSession(req.encoder === "news" ? news.session : user.session, req.feeds, req.outputs);
      reply(
        { id: req.id, outputs },
        Object.values(outputs).flatMap((o) => (o.data.byteLength >= TRANSFER_MIN_BYTES ? [o.data.buffer as ArrayBuffer] : [])),
      );
    } catch (err) {
      failed(req.id, err);
    }
  });
  parentPort!.postMessage({ ready: true, provider: news.provider, logs } satisfies WorkerHello);
}

void start();
