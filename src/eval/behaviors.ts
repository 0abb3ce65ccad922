/** Reading MIND behaviors.tsv: impression id, user id, time, history, impressions ("N1-1 N2-0"). */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { RowProblem } from "../catalog/newsfile.ts";

export interface Impression {
  id: string;
  userId: string;
  history: string[];
  candidates: string[];
  labels: number[];
}

export async function readBehaviors(path: string, limit = Infinity): Promise<{ impressions: Impression[]; problems: RowProblem[] }> {
  const rl = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  const impressions: Impression[] = [];
  const problems: RowProblem[] = [];
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    if (impressions.length >= limit) break;
    const c = text.split("\t");
    if (c.length !== 5) {
      problems.push({ line, reason: `expected 5 tab-separated columns, found ${c.length}` });
      continue;
    }
    const candidates: string[] = [];
    const labels: number[] = [];
    let bad = false;
    for (const tok of c[4]!.split(" ").filter(Boolean)) {
      const dash = tok.lastIndexOf("-");
      const label = tok.slice(dash + 1);
      if (dash <= 0 || (label !== "0" && label !== "1")) {
        bad = true;
        break;
      }
      candidates.push(tok.slice(0, dash));
      labels.push(Number(label));
    }
    if (bad) {
      problems.push({ line, reason: "impressions column is not of the form N123-1 N456-0" });
      continue;
    }
    impressions.push({ id: c[0]!, userId: c[1]!, history: c[3]!.split(" ").filter(Boolean), candidates, labels });
  }
  return { impressions, problems };
}
