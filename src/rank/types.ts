/** The rank request and response, shared by every transport. */
import type { NewsMeta } from "../catalog/store.ts";
import type { KeptAnswer } from "./answer-reuse.ts";

/** The request is the schema's (src/api/schemas.ts): one definition validates and types it. */
export type { RankRequest } from "../api/schemas.ts";

export interface RankedItem extends Omit<NewsMeta, "id"> {
  newsId: string;
  score: number;
}

export interface RankResponse {
  mode: "rerank" | "retrieve";
  items: RankedItem[];
  userCache: "hit" | "miss" | "none";
  /** True when the history had no known item and the fallback order was used. */
  coldStart: boolean;
  model: { name: string; version: string; fingerprint: string };
  unknownHistory: string[];
  unknownCandidates: string[];
  /** With explain: each known history item's weight in the user vector, oldest first. */
  explanation?: { newsId: string; weight: number }[];
}

/** An item of an answer: a catalog slot and its score. */
export interface Scored {
  slot: number;
  score: number;
}

/**
 * What the rank service answers before its items are made objects (RankService.response) or
 * JSON bytes (RankService.json): the response with no items, and the items as slots, best first.
 */
export interface RankAnswer {
  head: RankResponse;
  hits: readonly Scored[];
  /** The kept answer these hits were given again from, when they were (rank/answer-reuse.ts). */
  kept?: KeptAnswer;
}
