/**
 * A rank response as JSON bytes without parsing or serialising its items' metadata: each item
 * is the catalog's stored JSON text (catalog/meta-store.ts) with its "id" key renamed and the
 * score put after it. The catalog stores items with "id" first (MetaStore.set), so
 *
 *   stored  {"id":"N1","title":"…",…}
 *   sent    {"newsId":"N1","score":0.93,"title":"…",…}
 *
 * which is, byte for byte, JSON.stringify of the item object that RankService.response makes
 * ({ newsId, score, ...meta }): the same keys in the same order with the same escapes. An item
 * whose stored text does not start with its id (a snapshot written by another tool) is
 * serialised from its object instead. The rest of the response (a few small fields) goes
 * through JSON.stringify with no items, and the items are spliced into its "items":[].
 */
import type { RankAnswer, RankedItem, Scored } from "./types.ts";

/** What the writer needs of a catalog (catalog/store.ts's Catalog). */
export interface StoredItems {
  rawMetaAt(slot: number): Uint8Array | null;
}

const ITEMS = '"items":[]';
const ID_KEY = Buffer.from('{"id":"');
const NEWS_ID = Buffer.from('{"newsId":');
const SCORE = Buffer.from(',"score":');
/** Where a stored text starts relative to its item in the output: {"newsId": is longer than {"id": by this. */
const SHIFT = NEWS_ID.length - (ID_KEY.length - 1);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The end (exclusive) of the id's JSON string when the stored text starts with {"id":"…", else -1. */
export function idEnd(raw: Uint8Array): number {
  if (raw.length < ID_KEY.length + 2) return -1;
  for (let i = 0; i < ID_KEY.length; i++) if (raw[i] !== ID_KEY[i]) return -1;
  for (let i = ID_KEY.length; i < raw.length; i++) {
    const b = raw[i];
    if (b === BACKSLASH) i++;
    else if (b === QUOTE) {
      const next = raw[i + 1];
      // A comma before the next key, or the end of an item that has only its id.
      return next === 0x2c || next === 0x7d ? i + 1 : -1;
    }
  }
  return -1;
}

/** A score as JSON writes it ("null" when not finite); JSON.stringify of a number skips the number-to-string cache that String() fills, whose misses cost more than the formatting. */
const number = (x: number): string => JSON.stringify(x);

/** Writes an ASCII string (a number's text) at `at`; returns its end. */
function ascii(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** A response head's JSON text, its byte length, and the byte length of its part before the items array's "]". */
interface Head {
  text: string;
  bytes: number;
  open: number;
}

function measureHead(head: RankAnswer["head"]): Head {
  const text = JSON.stringify(head);
  const at = text.indexOf(ITEMS);
  if (at < 0) throw new Error("a rank response without its items key");
  const split = at + ITEMS.length - 1;
  const bytes = Buffer.byteLength(text);
  return { text, bytes, open: bytes === text.length ? split : Buffer.byteLength(text.slice(0, split)) };
}

/**
 * Heads with nothing of the request's own in them (no unknown ids, no explanation) differ only by
 * mode, cache result and cold start, for a model (the object the rank service makes once): twelve
 * texts at most, each made once rather than per response.
 */
const plainHeads = new WeakMap<object, (Head | undefined)[]>();
const CACHE_RESULTS = { hit: 0, miss: 1, none: 2 } as const;

/** Whether a head holds nothing of its request's own: the same text for every response of its mode, cache result and model. */
export function isPlainHead(head: RankAnswer["head"]): boolean {
  return !head.unknownHistory.length && !head.unknownCandidates.length && !head.explanation && !head.items.length;
}

function headOf(head: RankAnswer["head"]): Head {
  if (!isPlainHead(head)) return measureHead(head);
  let heads = plainHeads.get(head.model);
  if (!heads) plainHeads.set(head.model, (heads = []));
  const i = (head.mode === "rerank" ? 6 : 0) + CACHE_RESULTS[head.userCache] * 2 + (head.coldStart ? 1 : 0);
  return (heads[i] ??= measureHead(head));
}

/**
 * The bytes are placed with TypedArray methods and short loops rather than Buffer's write and
 * copy, each a call into C++ that costs more than the few bytes it moves: per response there are
 * two such calls, for the head, whatever the item count.
 */
export function rankJson(a: RankAnswer, catalog: StoredItems, itemOf: (h: Scored) => RankedItem): Buffer {
  const { text: head, bytes: headBytes, open } = headOf(a.head);
  // Each item: a stored text and its id's end, or a fallback text.
  const raws: (Uint8Array | null)[] = [];
  const ends: number[] = [];
  const texts: string[] = [];
  let size = headBytes + Math.max(0, a.hits.length - 1);
  for (const h of a.hits) {
    const raw = catalog.rawMetaAt(h.slot);
    const end = raw ? idEnd(raw) : -1;
    if (raw && end > 0) {
      const score = number(h.score);
      raws.push(raw);
      ends.push(end);
      texts.push(score);
      size += NEWS_ID.length + (end - ID_KEY.length + 1) + SCORE.length + score.length + (raw.length - end);
    } else {
      const text = JSON.stringify(itemOf(h));
      raws.push(null);
      ends.push(-1);
      texts.push(text);
      size += Buffer.byteLength(text);
    }
  }
  const out = Buffer.allocUnsafe(size);
  // The whole head, then its part after the split moved to the end.
  out.write(head, 0);
  out.copyWithin(size - (headBytes - open), open, headBytes);
  let o = open;
  for (let i = 0; i < raws.length; i++) {
    if (i) out[o++] = 0x2c;
    const raw = raws[i];
    if (!raw) {
      o += out.write(texts[i]!, o);
      continue;
    }
    const end = ends[i]!;
    const score = texts[i]!;
    // The stored text whole, placed so that its id's string (from the opening quote) follows
    // {"newsId": and its first bytes are then overwritten by that key; the rest after the id
    // moved on to make room for the score (no view of the stored text is made).
    const at = o + SHIFT;
    out.set(raw, at);
    const gap = SCORE.length + score.length;
    out.copyWithin(at + end + gap, at + end, at + raw.length);
    out.set(NEWS_ID, o);
    out.set(SCORE, at + end);
    ascii(out, at + end + SCORE.length, score);
    o = at + raw.length + gap;
  }
  return out;
}
