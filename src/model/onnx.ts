/**
 * The only module that touches onnxruntime-node. Sessions are created with the first
 * execution provider of the configured list that works; a provider that is asked for but
 * missing (CUDA on a CPU-only install) is skipped with one log line.
 */
import * as ort from "onnxruntime-node";

export type Provider = "cuda" | "cpu";

export interface SessionOptions {
  providers: Provider[];
  intraOpThreads: number;
  log: (line: string) => void;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  provider: Provider;
}

/**
 * Opens a session from the model's bytes, never from a path: the bundle hashed exactly these
 * bytes, and a path could meanwhile name another file. `file` is for error messages.
 */
export async function openSession(model: Uint8Array, file: string, o: SessionOptions): Promise<LoadedSession> {
  const reasons: string[] = [];
  for (const provider of o.providers) {
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [provider],
        intraOpNumThreads: o.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
      return { session, provider };
    } catch (err) {
      const reason = (err as Error).message.split("\n")[0];
      reasons.push(`${provider}: ${reason}`);
      const next = o.providers[o.providers.indexOf(provider) + 1];
      if (next) o.log(`execution provider ${provider} is not available (${reason}); falling back to ${next}`);
    }
  }
  throw new Error(`cannot open ${file} with any execution provider (${reasons.join("; ")})`);
}

export type Feed = { kind: "int64"; data: BigInt64Array; dims: number[] } | { kind: "float32"; data: Float32Array; dims: number[] };

/** Runs a session; returns each requested output's data and dims. */
export async function runSession(
  s: ort.InferenceSession,
  feeds: Record<string, Feed>,
  outputs: string[],
): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const tensors: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) tensors[name] = new ort.Tensor(f.kind, f.data, f.dims);
  const res = await s.run(tensors, outputs);
  const out: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
  for (const name of outputs) {
    const t = res[name];
    if (!t) throw new Error(`model produced no output named ${name}`);
    out[name] = { data: t.data as Float32Array, dims: t.dims };
  }
  return out;
}

/**
 * Feeds and outputs at least this large are transferred rather than copied. Below it a copy is
 * cheaper than a transfer (which detaches the sender's buffer and makes the receiver a new one),
 * and most runs of a server are a few vectors.
 */
export const TRANSFER_MIN_BYTES = 64 * 1024;
