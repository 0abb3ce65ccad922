/**
 * An encoder worker thread: owns the ONNX sessions of one bundle and runs the batches the
 * pool sends it, so inference never blocks the main thread's event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, type Feed, type LoadedSession, type Provider } from "./onnx.ts";

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
}

export interface WorkerRequest {
  id: number;
  encoder: "news" | "user";
  feeds: Record<string, Feed>;
  outputs: string[];
}

export type WorkerReply =
  | { id: number; outputs: Record<string, { data: Float32Array; dims: readonly number[] }> }
  | { id: number; error: string };

export type WorkerHello = { ready: true; provider: Provider; logs: string[] } | { ready: false; error: string };

async function start(): Promise<void> {
  const init = workerData as WorkerInit;
  const logs: string[] = [];
  const opts = { providers: init.providers, intraOpThreads: init.intraOpThreads, log: (l: string) => logs.push(l) };
  let news: LoadedSession;
  let user: LoadedSession;
  try {
    news = await openSession(init.newsModel, init.newsFile, opts);
    user = init.userModel === init.newsModel ? news : await openSession(init.userModel, init.userFile, opts);
  } catch (err) {
    parentPort!.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerHello);
    return;
  }
  parentPort!.on("message", async (req: WorkerRequest) => {
    try {
      const s = req.encoder === "news" ? news.session : user.session;
      const outputs = await runSession(s, req.feeds, req.outputs);
      const transfer = Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer);
      parentPort!.postMessage({ id: req.id, outputs } satisfies WorkerReply, transfer);
    } catch (err) {
      // Whatever was thrown, the pool gets an answer: a throw here would kill the thread.
      parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
  parentPort!.postMessage({ ready: true, provider: news.provider, logs } satisfies WorkerHello);
}

void start();
