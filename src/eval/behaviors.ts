/**
 * Reading MIND behaviors.tsv: impression id, user id, time, history, impressions ("N1-1 N2-0").
 * The row rules are those of docs/mind-format.md, shared with the trainer's reader
 * (models/training/mind.py). Ids missing from the news file are not a row problem: the rank
 * service drops and counts them, as the trainer does.
 */
import type { RowProblem } from "../catalog/newsfile.ts";
import { readLines, splitWs, trimWs } from "../catalog/textfile.ts";

export interface Impression {
  id: string;
  userId: string;
  history: string[];
  candidates: string[];
  labels: number[];
}

/** "N123-1": the id is everything before the last dash, so ids may hold dashes themselves. */
const TOKEN = /^(.+)-([01])$/s;

export function parseBehaviorsRow(text: string): Impression | string {
  const c = text.split("\t").map(trimWs);
  if (c.length !== 5) return `expected 5 tab-separated columns, found ${c.length}`;
  const [id, userId, , history, impressions] = c as [string, string, string, string, string];
  if (!id) return "empty impression id";
  if (!userId) return "empty user id";
  const tokens = splitWs(impressions);
  if (!tokens.length) return "empty impressions column";
  const candidates: string[] = [];
  const labels: number[] = [];
  for (const tok of tokens) {
    const m = TOKEN.exec(tok);
    if (!m) return `impression token ${tok} is not of the form N123-1 (a news id, a dash, 0 or 1)`;
    candidates.push(m[1]!);
    labels.push(Number(m[2]));
  }
  return { id, userId, history: splitWs(history), candidates, labels };
}

export async function readBehaviors(path: string, limit = Infinity): Promise<{ impressions: Impression[]; problems: RowProblem[] }> {
  const impressions: Impression[] = [];
  const problems: RowProblem[] = [];
  for await (const { line, text } of readLines(path)) {
    if (text === null) {
      problems.push({ line, reason: "not valid UTF-8" });
      continue;
    }
    if (!trimWs(text)) continue;
    if (impressions.length >= limit) break;
    const r = parseBehaviorsRow(text);
    if (typeof r === "string") problems.push({ line, reason: r });
    else impressions.push(r);
  }
  return { impressions, problems };
}
