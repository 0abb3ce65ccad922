/**
 * Lines and whitespace of MIND-format text files, exactly as docs/mind-format.md defines them.
 * models/training/mind.py implements the same rules; test/catalog/mind-rules.test.ts holds the
 * two equal, so a row the trainer learns from is a row `embed` and `eval` can find.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/**
 * ASCII whitespace only. JavaScript's trim() and \s also take U+FEFF, U+00A0 and U+2028 while
 * Python's strip() takes U+001C–U+001F and U+0085: neither set is the other's, so both sides
 * spell this one out.
 */
const WS = "[ \\t\\n\\v\\f\\r]";
const EDGES = new RegExp(`^${WS}+|${WS}+$`, "g");
const RUNS = new RegExp(`${WS}+`);
const ANY = new RegExp(WS);

export const trimWs = (s: string): string => s.replace(EDGES, "");
export const splitWs = (s: string): string[] => s.split(RUNS).filter(Boolean);
export const hasWs = (s: string): boolean => ANY.test(s);

export interface Line {
  /** 1-based; every line counts, empty ones included, so numbers match an editor's. */
  line: number;
  /** null when the line's bytes are not UTF-8 (e.g. a spreadsheet's Windows-1252 export). */
  text: string | null;
}

const BOM = "\xef\xbb\xbf";
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Lines end at LF, CRLF or a lone CR (old spreadsheet exports on macOS). The file is split as
 * latin1, which maps each byte to one character, so a line's own bytes can be decoded strictly
 * and a bad byte refuses its row rather than turning silently into U+FFFD. A UTF-8 byte-order
 * mark at the start of a line is dropped: spreadsheet tools write one, and `cat a.tsv b.tsv`
 * carries the second file's into the middle.
 */
export async function* readLines(path: string): AsyncGenerator<Line> {
  const rl = createInterface({ input: createReadStream(path, { encoding: "latin1" }), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of rl) {
    line++;
    const bytes = Buffer.from(raw.startsWith(BOM) ? raw.slice(BOM.length) : raw, "latin1");
    let text: string | null;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = null;
    }
    yield { line, text };
  }
}
