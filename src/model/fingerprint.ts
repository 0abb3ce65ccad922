/**
 * The bundle fingerprint: what a bundle's vectors mean. It covers the bytes of the encoder and
 * tokenizer files and the manifest settings that decide how text becomes a vector (input fields,
 * max lengths, token ids, ONNX input/output names, dimension, architecture), so a copy of a bundle
 * with other settings cannot pass for the original and reuse its snapshots.
 *
 * models/training/fingerprint.py computes the same bytes: keys sorted by code point, no spaces,
 * non-ASCII escaped as \uXXXX (json.dumps(sort_keys=True, separators=(",", ":"))). Name, version,
 * validation metrics and float-valued fields are left out: they do not change the vectors, and
 * floats have no text that JSON.stringify and json.dumps agree on.
 */
import { createHash } from "node:crypto";

/** The manifest keys the fingerprint covers. */
export const FINGERPRINTED = ["architecture", "dimension", "similarity", "tokenizer", "newsInput", "userInput", "encoders"] as const;

/** Python's sort_keys compares code points; JavaScript's default sort compares UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** ASCII-only JSON text, as json.dumps(ensure_ascii=True) writes it: lowercase \uXXXX per UTF-16 unit. */
function str(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// Written by hand rather than with JSON.stringify, which would put integer-like keys first.
function canon(v: unknown, path: string): string {
  if (v === null || typeof v === "boolean") return String(v);
  if (typeof v === "string") return str(v);
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`manifest setting ${path} is ${v}: fingerprinted settings hold only integers`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map((x, i) => canon(x, `${path}/${i}`)).join(",")}]`;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort(byCodePoint);
    return `{${keys.map((k) => `${str(k)}:${canon(o[k], `${path}/${k}`)}`).join(",")}}`;
  }
  throw new Error(`manifest setting ${path} holds a ${typeof v}, which JSON cannot`);
}

/** The canonical text of the fingerprinted settings; throws on a value it cannot write canonically. */
export function canonicalSettings(manifest: Record<string, unknown>): string {
  const settings: Record<string, unknown> = {};
  for (const k of FINGERPRINTED) settings[k] = manifest[k];
  return canon(settings, "");
}

/** The files the fingerprint hashes, in order: news encoder, user encoder (when another file), tokenizer. */
export function fingerprintedFiles(m: { encoders: { news: { file: string }; user: { file: string } }; tokenizer: { file: string } }): string[] {
  const { news, user } = m.encoders;
  return [...new Set([news.file, user.file]), m.tokenizer.file];
}

/** sha256 over each file's sha256 and the canonical settings, one per line. */
export function fingerprint(fileHashes: string[], manifest: Record<string, unknown>): string {
  const text = `${fileHashes.map((h) => `${h}\n`).join("") + canonicalSettings(manifest)}\n`;
  return createHash("sha256").update(text, "utf8").digest("hex");
}
