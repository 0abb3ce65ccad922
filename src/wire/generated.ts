// Generated from proto/newsrec/v1/recommender.proto by scripts/gen-proto-types.ts. Do not edit.

export interface RankFilter {
  categories?: string[];
  maxAgeHours?: number;
}

export interface RankRequest {
  userId?: string;
  history?: string[];
  candidates?: string[];
  k?: number;
  filter?: RankFilter;
  excludeHistory?: boolean;
  explain?: boolean;
}

export interface News {
  id?: string;
  title?: string;
  abstract?: string;
  category?: string;
  subcategory?: string;
  publishedAt?: string;
  url?: string;
}

export interface RankedItem {
  newsId?: string;
  score?: number;
  title?: string;
  abstract?: string;
  category?: string;
  subcategory?: string;
  publishedAt?: string;
  url?: string;
}

export interface ModelInfo {
  name?: string;
  version?: string;
  fingerprint?: string;
}

export interface Explanation {
  newsId?: string;
  weight?: number;
}

export interface RankResponse {
  mode?: string;
  items?: RankedItem[];
  userCache?: string;
  coldStart?: boolean;
  model?: ModelInfo;
  unknownHistory?: string[];
  unknownCandidates?: string[];
  explanation?: Explanation[];
}

export interface UpsertNewsRequest {
  items?: News[];
}

export interface UpsertNewsResponse {
  upserted?: number;
}

export interface DeleteNewsRequest {
  id?: string;
}

export interface DeleteNewsResponse {
  deleted?: string;
}

export interface GetNewsRequest {
  id?: string;
}

export const RecommenderMethods = [{"name":"Rank","request":"RankRequest","response":"RankResponse"},{"name":"UpsertNews","request":"UpsertNewsRequest","response":"UpsertNewsResponse"},{"name":"DeleteNews","request":"DeleteNewsRequest","response":"DeleteNewsResponse"},{"name":"GetNews","request":"GetNewsRequest","response":"News"}] as const;
