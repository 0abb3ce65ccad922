/**
 * The exact-scoring graph (MatMul + TopK) that the encoder workers run beside the encoders:
 * models/scoring/topk.onnx, made by models/training/topk_graph.py. It is part of the server,
 * not of a model bundle: it holds no weights, so it means the same for every bundle.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const TOPK_MODEL = fileURLToPath(new URL("../../models/scoring/topk.onnx", import.meta.url));

/** The graph's input and output names; the worker checks them against the session's own. */
export const TOPK_IO = { inputs: ["query", "matrix", "k"], outputs: ["scores", "indices"] } as const;

/**
 * The graph's bytes, or null (with the reason logged) when the file is missing: the server
 * then runs without ONNX exact scoring (recall monitoring off) rather than not at all.
 */
export function readTopKModel(log: (line: string) => void, path = TOPK_MODEL): Uint8Array | null {
  if (!existsSync(path)) {
    log(`exact-scoring graph ${path} is missing: ONNX exact scoring and recall monitoring are off (regenerate it with models/training/topk_graph.py)`);
    return null;
  }
  return new Uint8Array(readFileSync(path));
}
