/**
 * One catalog write as a message of the catalog log: the write-ahead log's record without its
 * sequence (the stream numbers messages), as JSON, vectors included, so that replicas apply
 * it without re-encoding. The header names the encoder that made the vectors: a replica never
 * mixes vectors of two encoders. Batches too large for one message are split into several;
 * each message is applied whole.
 */
import { decodeVector, walItem, type WalRecord } from "../wal.ts";
import type { NewsMeta } from "../store.ts";

export const FINGERPRINT_HEADER = "Newsrec-Fingerprint";
/** Bumped when the payload changes shape; a replica refuses what it does not know. */
export const FORMAT_HEADER = "Newsrec-Format";
export const FORMAT = "1";

type Distribute<T> = T extends unknown ? Omit<T, "seq"> : never;
export type LogWrite = Distribute<WalRecord>;

/** tokens: the item's token ids, present for a model whose user encoder reads them (FUM). */
export type DecodedWrite = { op: "upsert"; items: { meta: NewsMeta; vector: Float32Array; tokens: number[] | null }[] } | { op: "delete"; id: string };

const utf8 = new TextEncoder();

/**
 * An upsert as messages of at most `maxBytes` each (NATS refuses larger ones). A single item
 * always fits: the request body limit is far below the server's payload limit. `tokens`: each
 * item's token ids when the model's user encoder reads them (as the write-ahead log keeps them).
 */
export function encodeUpsert(items: NewsMeta[], vectors: Float32Array[], maxBytes: number, tokens?: (ArrayLike<number> | null)[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let chunk: string[] = [];
  let size = 0;
  const head = '{"op":"upsert","items":[';
  const flush = () => {
    if (chunk.length) out.push(utf8.encode(`${head}${chunk.join(",")}]}`));
    chunk = [];
    size = 0;
  };
  items.forEach((meta, i) => {
    const one = JSON.stringify(walItem(meta, vectors[i]!, tokens?.[i] ?? null));
    if (chunk.length && head.length + size + one.length + 3 > maxBytes) flush();
    chunk.push(one);
    size += one.length + 1;
  });
  flush();
  return out;
}

export function encodeDelete(id: string): Uint8Array {
  return utf8.encode(JSON.stringify({ op: "delete", id } satisfies LogWrite));
}

export class LogMessageError extends Error {
  constructor(seq: number, message: string) {
    super(`catalog log message ${seq}: ${message}`);
    this.name = "LogMessageError";
  }
}

/** A message's write, checked for shape, encoder and dimension; throws LogMessageError. */
export function decodeWrite(seq: number, data: Uint8Array, headers: Record<string, string>, expect: { fingerprint: string; dimension: number }): DecodedWrite {
  const format = headers[FORMAT_HEADER];
  if (format !== FORMAT) throw new LogMessageError(seq, `format ${format ?? "(none)"} is not one this server reads (${FORMAT})`);
  const fp = headers[FINGERPRINT_HEADER];
  if (fp !== expect.fingerprint)
    throw new LogMessageError(
      seq,
      `holds vectors of model fingerprint ${(fp ?? "(none)").slice(0, 16)}…, but this replica runs ${expect.fingerprint.slice(0, 16)}…; every replica of one stream must serve the same model`,
    );
  let w: LogWrite;
  try {
    w = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"));
  } catch {
    throw new LogMessageError(seq, "is not valid JSON");
  }
  if (w?.op === "delete" && typeof w.id === "string") return { op: "delete", id: w.id };
  if (w?.op === "upsert" && Array.isArray(w.items)) {
    return {
      op: "upsert",
      items: w.items.map((it, i) => {
        const vector = decodeVector(it.vector);
        if (typeof it.meta?.id !== "string" || vector.length !== expect.dimension)
          throw new LogMessageError(seq, `item ${i} has no id or a vector of dimension ${vector.length}, not ${expect.dimension}`);
        if (it.tokens !== undefined && !(Array.isArray(it.tokens) && it.tokens.every((t) => Number.isInteger(t))))
          throw new LogMessageError(seq, `item ${i} has token ids that are not a list of integers`);
        return { meta: it.meta, vector, tokens: it.tokens ?? null };
      }),
    };
  }
  throw new LogMessageError(seq, "is neither an upsert nor a delete");
}
