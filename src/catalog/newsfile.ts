/**
 * Reading news files: MIND news.tsv (8 tab-separated columns) or JSON Lines
 * ({"id","title","abstract","category","subcategory","publishedAt"}). The row rules are those of
 * docs/mind-format.md, shared with the trainer's reader (models/training/mind.py). Malformed rows
 * are reported by line number and skipped, never fatal.
 */
import type { NewsMeta } from "./store.ts";
import { hasWs, readLines, trimWs } from "./textfile.ts";

export interface RowProblem {
  line: number;
  reason: string;
}

export interface NewsFileResult {
  items: NewsMeta[];
  problems: RowProblem[];
  lines: number;
}

/** The entity columns are not read by any model, but JSON there is what says the row kept MIND's shape. */
function isJsonArray(s: string): boolean {
  if (!s) return true;
  try {
    return Array.isArray(JSON.parse(s));
  } catch {
    return false;
  }
}

/** Ids are space-separated in behaviors.tsv, so an id with whitespace could never be clicked. */
function idProblem(id: string): string | null {
  if (!id) return "empty news id";
  if (hasWs(id)) return "news id contains whitespace";
  return null;
}

function fromTsv(line: string): NewsMeta | string {
  const c = line.split("\t").map(trimWs);
  if (c.length !== 8) return `expected 8 tab-separated columns, found ${c.length}`;
  const [id, category, subcategory, title, abstract, url, titleEntities, abstractEntities] = c as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const bad = idProblem(id);
  if (bad) return bad;
  if (!title) return "empty title";
  if (!isJsonArray(titleEntities)) return "title_entities is not a JSON array";
  if (!isJsonArray(abstractEntities)) return "abstract_entities is not a JSON array";
  const meta: NewsMeta = { id, title, category, subcategory };
  if (abstract) meta.abstract = abstract;
  if (url) meta.url = url;
  return meta;
}

function fromJson(line: string): NewsMeta | string {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return "not valid JSON";
  }
  if (!o || typeof o !== "object" || Array.isArray(o)) return "not a JSON object";
  const r = o as Record<string, unknown>;
  if (typeof r.id !== "string") return "missing string id";
  const id = trimWs(r.id);
  const bad = idProblem(id);
  if (bad) return bad;
  const title = typeof r.title === "string" ? trimWs(r.title) : "";
  if (!title) return "missing or empty title";
  const meta: NewsMeta = { id, title };
  for (const k of ["abstract", "category", "subcategory", "url"] as const) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== "string") return `${k} is not a string`;
    meta[k] = trimWs(r[k] as string);
  }
  if (r.publishedAt !== undefined && r.publishedAt !== null) {
    if (typeof r.publishedAt !== "string" || Number.isNaN(Date.parse(r.publishedAt))) return "publishedAt is not a date";
    meta.publishedAt = new Date(r.publishedAt).toISOString();
  }
  return meta;
}

export async function readNewsFile(path: string, onItem?: (n: NewsMeta) => void): Promise<NewsFileResult> {
  const json = /\.jsonl?$/i.test(path);
  const items: NewsMeta[] = [];
  const problems: RowProblem[] = [];
  // The first accepted row of an id wins: `embed` streams items out as it reads (onItem) and
  // cannot take one back, and the trainer (mind.py) keeps the same one.
  const firstLine = new Map<string, number>();
  let lines = 0;
  for await (const { line, text } of readLines(path)) {
    lines = line;
    if (text === null) {
      problems.push({ line, reason: "not valid UTF-8" });
      continue;
    }
    if (!trimWs(text)) continue;
    const r = json ? fromJson(text) : fromTsv(text);
    if (typeof r === "string") problems.push({ line, reason: r });
    else if (firstLine.has(r.id)) problems.push({ line, reason: `duplicate id ${r.id} (first on line ${firstLine.get(r.id)})` });
    else {
      firstLine.set(r.id, line);
      items.push(r);
      onItem?.(r);
    }
  }
  return { items, problems, lines };
}
