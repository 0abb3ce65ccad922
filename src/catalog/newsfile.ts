/**
 * Reading news files: MIND news.tsv (8 tab-separated columns) or JSON Lines
 * ({"id","title","abstract","category","subcategory","publishedAt"}). Malformed rows are
 * reported by line number and skipped, never fatal.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { NewsMeta } from "./store.ts";

export interface RowProblem {
  line: number;
  reason: string;
}

export interface NewsFileResult {
  items: NewsMeta[];
  problems: RowProblem[];
  lines: number;
}

function isJsonArray(s: string): boolean {
  if (!s) return true;
  try {
    return Array.isArray(JSON.parse(s));
  } catch {
    return false;
  }
}

function fromTsv(line: string): NewsMeta | string {
  const c = line.split("\t");
  if (c.length !== 8) return `expected 8 tab-separated columns, found ${c.length}`;
  const [id, category, subcategory, title, abstract, url, titleEntities, abstractEntities] = c as [string, string, string, string, string, string, string, string];
  if (!id.trim()) return "empty news id";
  if (!title.trim()) return "empty title";
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
  if (typeof r.id !== "string" || !r.id.trim()) return "missing string id";
  if (typeof r.title !== "string" || !r.title.trim()) return "missing or empty title";
  const meta: NewsMeta = { id: r.id, title: r.title };
  for (const k of ["abstract", "category", "subcategory", "url"] as const) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== "string") return `${k} is not a string`;
    meta[k] = r[k] as string;
  }
  if (r.publishedAt !== undefined && r.publishedAt !== null) {
    if (typeof r.publishedAt !== "string" || Number.isNaN(Date.parse(r.publishedAt))) return "publishedAt is not a date";
    meta.publishedAt = new Date(r.publishedAt).toISOString();
  }
  return meta;
}

export async function readNewsFile(path: string, onItem?: (n: NewsMeta) => void): Promise<NewsFileResult> {
  const json = /\.jsonl?$/i.test(path);
  const rl = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  const items: NewsMeta[] = [];
  const problems: RowProblem[] = [];
  const seen = new Set<string>();
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    const r = json ? fromJson(text) : fromTsv(text);
    if (typeof r === "string") problems.push({ line, reason: r });
    else if (seen.has(r.id)) problems.push({ line, reason: `duplicate id ${r.id}` });
    else {
      seen.add(r.id);
      items.push(r);
      onItem?.(r);
    }
  }
  return { items, problems, lines: line };
}
