/** A fixed pool of encoder worker threads; each run goes to the worker with the fewest runs in flight. */
import { Worker } from "node:worker_threads";
import type { Feed, Provider } from "./onnx.ts";
import type { WorkerHello, WorkerInit, WorkerReply, WorkerRequest } from "./worker.ts";

type Outputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

interface Slot {
  worker: Worker;
  inFlight: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (o: Outputs) => void; reject: (e: Error) => void; slot: Slot }>();
  private nextId = 1;
  private closed = false;
  provider: Provider = "cpu";

  private constructor() {}

  static async start(size: number, init: WorkerInit, log: (line: string) => void): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const url = new URL("./worker-entry.mjs", import.meta.url);
    try {
      await Promise.all(
        Array.from({ length: size }, async (_, i) => {
          const worker = new Worker(url, { workerData: init });
          const slot: Slot = { worker, inFlight: 0 };
          pool.slots.push(slot);
          const hello = await new Promise<WorkerHello>((resolve, reject) => {
            const onExit = (code: number) => reject(new Error(`encoder worker exited with code ${code} while starting`));
            worker.once("message", (m: WorkerHello) => {
              // Only our own listeners go: removeAllListeners would also drop the worker's internal port hooks.
              worker.off("error", reject);
              worker.off("exit", onExit);
              resolve(m);
            });
            worker.once("error", reject);
            worker.once("exit", onExit);
          });
          if (!hello.ready) throw new Error(hello.error);
          if (i === 0) for (const l of hello.logs) log(l);
          pool.provider = hello.provider;
          worker.on("message", (m: WorkerReply) => pool.onReply(m));
          worker.on("error", (err) => pool.failSlot(slot, err));
          worker.on("exit", (code) => pool.failSlot(slot, new Error(`encoder worker exited with code ${code}`)));
        }),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get busy(): number {
    return this.slots.reduce((a, s) => a + s.inFlight, 0);
  }

  run(encoder: "news" | "user", feeds: Record<string, Feed>, outputs: string[]): Promise<Outputs> {
    if (this.closed) return Promise.reject(new Error("encoder pool is closed"));
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    slot.inFlight++;
    return new Promise<Outputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      const transfer = Object.values(feeds).map((f) => f.data.buffer as ArrayBuffer);
      slot.worker.postMessage({ id, encoder, feeds, outputs } satisfies WorkerRequest, transfer);
    });
  }

  private onReply(m: WorkerReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.slot.inFlight--;
    if ("error" in m) p.reject(new Error(`encoder failed: ${m.error}`));
    else p.resolve(m.outputs);
  }

  private failSlot(slot: Slot, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.slot === slot) {
        this.pending.delete(id);
        p.reject(err);
      }
    }
    slot.inFlight = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
