/**
 * A model bundle is a folder that describes itself (manifest.json). Loading checks the
 * manifest's shape, that every file stays inside the folder, and that the files and settings
 * hash to the fingerprint the manifest claims, so a corrupt or swapped encoder fails at startup
 * with the file's name rather than producing silently different vectors.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fingerprint, fingerprintedFiles } from "./fingerprint.ts";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const TextIo = Type.Object({ ids: Type.String(), mask: Type.String() });

const TextEncoder = Type.Object(
  {
    file: Type.String(),
    inputs: TextIo,
    outputs: Type.Object({ vector: Type.String() }),
  },
  { additionalProperties: true },
);

const UserEncoder = Type.Union([
  Type.Object({
    file: Type.String(),
    input: Type.Literal("news_vectors"),
    inputs: Type.Object({ vectors: Type.String(), mask: Type.String() }),
    outputs: Type.Object({ vector: Type.String(), attention: Type.Optional(Type.String()) }),
  }),
  Type.Object({
    file: Type.String(),
    input: Type.Literal("history_titles"),
    inputs: TextIo,
    outputs: Type.Object({ vector: Type.String() }),
  }),
]);

export const ManifestSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1 }),
  architecture: Type.Union([Type.Literal("hierarchical"), Type.Literal("siamese")]),
  dimension: Type.Integer({ minimum: 1, maximum: 4096 }),
  similarity: Type.Literal("dot"),
  tokenizer: Type.Object({
    file: Type.String(),
    vocabSize: Type.Integer({ minimum: 3 }),
    padId: Type.Integer({ minimum: 0 }),
    unkId: Type.Integer({ minimum: 0 }),
    sepId: Type.Integer({ minimum: 0 }),
  }),
  newsInput: Type.Object({
    fields: Type.Array(Type.Union([Type.Literal("category"), Type.Literal("subcategory"), Type.Literal("title"), Type.Literal("abstract")]), { minItems: 1 }),
    maxLength: Type.Integer({ minimum: 1, maximum: 4096 }),
  }),
  userInput: Type.Object({
    maxHistory: Type.Integer({ minimum: 1, maximum: 10_000 }),
    maxLength: Type.Integer({ minimum: 1, maximum: 4096 }),
  }),
  encoders: Type.Object({ news: TextEncoder, user: UserEncoder }),
  files: Type.Record(Type.String(), Type.String({ pattern: "^[0-9a-f]{64}$" })),
  fingerprint: Type.String({ pattern: "^[0-9a-f]{64}$" }),
  opset: Type.Optional(Type.Integer()),
  /** Norms of the training news vectors, measured by the exporter (the HNSW transform needs a bound). */
  newsVectorNorm: Type.Optional(Type.Object({ max: Type.Number({ exclusiveMinimum: 0 }), p99: Type.Number({ exclusiveMinimum: 0 }) })),
  validation: Type.Optional(Type.Unknown()),
});

export type Manifest = Static<typeof ManifestSchema>;

export interface Bundle {
  dir: string;
  manifest: Manifest;
  /** Absolute paths, checked to lie inside dir. */
  newsEncoderPath: string;
  userEncoderPath: string;
  tokenizerJson: unknown;
  /** Short form of the fingerprint, for logs and cache keys. */
  shortFingerprint: string;
}

export class BundleError extends Error {
  constructor(dir: string, message: string) {
    super(`model bundle ${dir}: ${message}`);
    this.name = "BundleError";
  }
}

function inside(dir: string, file: string): string {
  const p = resolve(dir, file);
  const rel = relative(dir, p);
  if (!rel || rel.startsWith("..") || isAbsolute(rel)) throw new BundleError(dir, `file "${file}" lies outside the bundle folder`);
  return p;
}

function sha256(path: string, dir: string): string {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch (err) {
    throw new BundleError(dir, `cannot read ${relative(dir, path)}: ${(err as Error).message}`);
  }
}

export function loadBundle(dirArg: string): Bundle {
  const dir = resolve(dirArg);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  } catch (err) {
    throw new BundleError(dir, `cannot read manifest.json: ${(err as Error).message}`);
  }
  if (!Value.Check(ManifestSchema, raw)) {
    const first = [...Value.Errors(ManifestSchema, raw)][0];
    throw new BundleError(dir, `manifest.json is invalid at ${first?.path || "/"}: ${first?.message}`);
  }
  const manifest = raw;
  const { news, user } = manifest.encoders;
  const hashes: string[] = [];
  for (const f of fingerprintedFiles(manifest)) {
    const expected = manifest.files[f];
    if (!expected) throw new BundleError(dir, `manifest.json lists no sha256 for ${f}`);
    const actual = sha256(inside(dir, f), dir);
    if (actual !== expected) throw new BundleError(dir, `${f} is corrupt or was replaced: sha256 ${actual.slice(0, 12)}… differs from the manifest's ${expected.slice(0, 12)}…`);
    hashes.push(actual);
  }
  let recomputed: string;
  try {
    recomputed = fingerprint(hashes, manifest);
  } catch (err) {
    throw new BundleError(dir, `cannot fingerprint manifest.json: ${(err as Error).message}`);
  }
  if (recomputed !== manifest.fingerprint) {
    throw new BundleError(dir, `the manifest's fingerprint does not match its files and settings (architecture, dimension, tokenizer, newsInput, userInput, encoders): recomputed ${recomputed.slice(0, 16)}…, manifest says ${manifest.fingerprint.slice(0, 16)}… (changed settings make another model: export it again, do not edit the manifest)`);
  }
  if (manifest.architecture === "hierarchical" && user.input !== "news_vectors") throw new BundleError(dir, "a hierarchical bundle's user encoder must read news_vectors");
  if (manifest.architecture === "siamese" && user.input !== "history_titles") throw new BundleError(dir, "a siamese bundle's user encoder must read history_titles");
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(readFileSync(inside(dir, manifest.tokenizer.file), "utf8"));
  } catch (err) {
    throw new BundleError(dir, `cannot parse ${manifest.tokenizer.file}: ${(err as Error).message}`);
  }
  return {
    dir,
    manifest,
    newsEncoderPath: inside(dir, news.file),
    userEncoderPath: inside(dir, user.file),
    tokenizerJson,
    shortFingerprint: manifest.fingerprint.slice(0, 16),
  };
}

/** Headroom over the largest measured news-vector norm, for items the training set did not show. */
const PHI_HEADROOM = 1.25;
/** For bundles that do not record their norms; a loose bound costs little (index/hnsw.ts). */
const PHI_FALLBACK = 16;

export function indexPhi(manifest: Manifest): number {
  return manifest.newsVectorNorm ? manifest.newsVectorNorm.max * PHI_HEADROOM : PHI_FALLBACK;
}
