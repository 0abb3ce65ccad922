/**
 * Raw requests to typed ones, for every transport: decode (protobuf), proto3 defaults, the
 * schema, then the checks a schema cannot say (one id twice in a batch). Each returns a typed
 * value or throws the NewsrecError the client sees, so HTTP and gRPC cannot disagree on what a
 * request means or on how a refusal is worded.
 */
import type { TSchema } from "@sinclair/typebox";
import { invalid } from "../errors.ts";
import { decode, DecodeError, messageType } from "../wire/proto.ts";
import { newsParams, rankBody, upsertBody, type NewsItem, type NewsParams, type RankLimits, type RankRequest, type UpsertRequest } from "./schemas.ts";
import { validate } from "./validator.ts";
import { withProto3Defaults } from "./proto3.ts";

/** How the raw value arrived: JSON says everything it means; protobuf leaves its defaults out. */
export type Source = "json" | "protobuf";

export interface Requests {
  rank(raw: unknown, source: Source): RankRequest;
  /** The batch's items, with no id twice. */
  upsert(raw: unknown, source: Source): NewsItem[];
  newsId(raw: unknown, source: Source): string;
}

function parse<T>(schema: TSchema, raw: unknown, source: Source): T {
  return validate<T>(schema, source === "protobuf" ? withProto3Defaults(schema, raw) : raw);
}

/** Upserting one id twice in a batch has no single meaning (which one wins?), so it is refused. */
function uniqueIds(items: NewsItem[]): NewsItem[] {
  const seen = new Set<string>();
  items.forEach((n, i) => {
    if (seen.has(n.id)) throw invalid(`items/${i}/id`, `duplicate id ${n.id} in one batch`);
    seen.add(n.id);
  });
  return items;
}

const byLimits = new Map<string, Requests>();

/** The parsers for these limits, built (and their schemas compiled) once per process. */
export function requestsFor(limits: RankLimits): Requests {
  const key = `${limits.maxHistory}/${limits.maxCandidates}`;
  let r = byLimits.get(key);
  if (r) return r;
  const rankSchema = rankBody(limits);
  r = {
    rank: (raw, source) => parse<RankRequest>(rankSchema, raw, source),
    upsert: (raw, source) => uniqueIds(parse<UpsertRequest>(upsertBody, raw, source).items),
    newsId: (raw, source) => parse<NewsParams>(newsParams, raw, source).id,
  };
  byLimits.set(key, r);
  return r;
}

/** A protobuf request body as a plain object; malformed bytes are the client's error. */
export function decodeBody(message: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    return decode(messageType(message), bytes);
  } catch (err) {
    if (err instanceof DecodeError) throw invalid("body", err.message);
    throw err;
  }
}
