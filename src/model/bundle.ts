/**
 * A model bundle is a folder that describes itself (manifest.json). Loading checks the
 * manifest's shape, that every file really lies inside the folder (symlinks resolved), and
 * that the files and settings hash to the fingerprint the manifest claims, so a corrupt or
 * swapped encoder fails at startup with the file's name rather than producing silently
 * different vectors. Each file is read once: the bytes that were hashed are the bytes the
 * encoders and the tokenizer are built from, so nothing can be swapped in between.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, openSync, readFileSync, realpathSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { fingerprint, fingerprintedFiles } from "./fingerprint.ts";
import { manifestProblem, type Manifest } from "./manifest.ts";

export type { Manifest };

export interface Bundle {
  dir: string;
  manifest: Manifest;
  /** The verified ONNX bytes; one object for both when news and user share a file (siamese). */
  newsEncoderBytes: Uint8Array;
  userEncoderBytes: Uint8Array;
  /** Parsed from the verified bytes of the tokenizer file. */
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

function within(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/**
 * Reads a bundle file once. The path is confined twice: as text, and after resolving symlinks
 * against the folder's own real path (a link inside the folder may point anywhere). The final
 * component is opened without following links, so a link swapped in after realpath is refused.
 */
function readInside(dir: string, realDir: string, file: string): Buffer {
  const p = resolve(dir, file);
  if (!within(dir, p)) throw new BundleError(dir, `file "${file}" lies outside the bundle folder`);
  let real: string;
  try {
    real = realpathSync(p);
  } catch (err) {
    throw new BundleError(dir, `cannot read ${file}: ${(err as Error).message}`);
  }
  if (!within(realDir, real)) throw new BundleError(dir, `file "${file}" lies outside the bundle folder (it resolves to ${real})`);
  try {
    const fd = openSync(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new BundleError(dir, `cannot read ${file}: ${(err as Error).message}`);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function loadBundle(dirArg: string): Bundle {
  const dir = resolve(dirArg);
  let realDir: string;
  try {
    realDir = realpathSync(dir);
  } catch (err) {
    throw new BundleError(dir, `cannot read manifest.json: ${(err as Error).message}`);
  }
  let raw: unknown;
  const manifestBytes = readInside(dir, realDir, "manifest.json");
  try {
    raw = JSON.parse(manifestBytes.toString("utf8"));
  } catch (err) {
    throw new BundleError(dir, `cannot parse manifest.json: ${(err as Error).message}`);
  }
  // models/manifest.schema.json, the schema the exporter validated against before writing.
  const problem = manifestProblem(raw);
  if (problem) throw new BundleError(dir, `manifest.json is invalid ${problem}`);
  const manifest = raw as Manifest;
  const { news, user } = manifest.encoders;
  const bytes = new Map<string, Buffer>();
  const hashes: string[] = [];
  for (const f of fingerprintedFiles(manifest)) {
    const expected = manifest.files[f];
    if (!expected) throw new BundleError(dir, `manifest.json lists no sha256 for ${f}`);
    const b = readInside(dir, realDir, f);
    const actual = sha256(b);
    if (actual !== expected)
      throw new BundleError(dir, `${f} is corrupt or was replaced: sha256 ${actual.slice(0, 12)}… differs from the manifest's ${expected.slice(0, 12)}…`);
    bytes.set(f, b);
    hashes.push(actual);
  }
  let recomputed: string;
  try {
    recomputed = fingerprint(hashes, manifest);
  } catch (err) {
    throw new BundleError(dir, `cannot fingerprint manifest.json: ${(err as Error).message}`);
  }
  if (recomputed !== manifest.fingerprint) {
    throw new BundleError(
      dir,
      `the manifest's fingerprint does not match its files and settings (architecture, dimension, tokenizer, newsInput, userInput, encoders): recomputed ${recomputed.slice(0, 16)}…, manifest says ${manifest.fingerprint.slice(0, 16)}… (changed settings make another model: export it again, do not edit the manifest)`,
    );
  }
  if (manifest.architecture === "hierarchical" && user.input !== "news_vectors")
    throw new BundleError(dir, "a hierarchical bundle's user encoder must read news_vectors");
  if (manifest.architecture === "siamese" && user.input !== "history_titles")
    throw new BundleError(dir, "a siamese bundle's user encoder must read history_titles");
  // The catalog keeps each item's token ids for such a user encoder (catalog/token-column.ts).
  if (manifest.architecture === "fum" && user.input !== "news_tokens_and_vectors")
    throw new BundleError(dir, "a fum bundle's user encoder must read news_tokens_and_vectors");
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(bytes.get(manifest.tokenizer.file)!.toString("utf8"));
  } catch (err) {
    throw new BundleError(dir, `cannot parse ${manifest.tokenizer.file}: ${(err as Error).message}`);
  }
  return {
    dir,
    manifest,
    newsEncoderBytes: bytes.get(news.file)!,
    userEncoderBytes: bytes.get(user.file)!,
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
