/**
 * Synthetic MIND-format corpus: news with topical titles and abstracts, users with a few
 * latent interests, impressions of 5 to 30 candidates with clicks of which a fixed share
 * is off-interest noise. Deterministic by seed. Optionally, named entities that news mention
 * and users follow across categories, and users with unlabeled histories only (the generative
 * story is told in models/README.md). Without those options every random draw is the one it
 * was before they existed, so a seed's corpus stays byte for byte the same.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { type Entity, EntityTable, entityColumn, makeEntities } from "./entities.ts";
import { Random } from "./random.ts";
import { GENERAL, TEMPLATES, TOPICS, type Topic } from "./topics.ts";

export interface SynthOptions {
  out: string;
  news: number;
  users: number;
  seed: number;
  /** Share of clicks (history and impressions) that ignore the user's interests. */
  noise: number;
  /** More users with a history and no impression, in OUT/train/histories.tsv (0: no such file). */
  unlabeledUsers?: number;
  /** Named entities that news mention and users follow (0: none). */
  entities?: number;
}

/** Share of news that mention an entity, when the corpus has entities. */
const MENTION_SHARE = 0.5;
/** Share of users who follow entities; each follows one or two. */
const FOLLOWER_SHARE = 0.6;
/** Share of a follower's on-interest picks (history clicks, impression candidates) made for an entity. */
const ENTITY_PICK_SHARE = 0.4;
/** Added to the affinity of a news item that mentions an entity the user follows. */
const ENTITY_AFFINITY = 1.5;

export interface SynthNews {
  id: string;
  category: string;
  subcategory: string;
  title: string;
  abstract: string;
  publishedAt: Date;
  /** The entity the title mentions, if any. */
  entity?: Entity;
}

interface User {
  id: string;
  prefs: Map<string, number>; // subcategory -> affinity
  categories: Set<string>;
  follows: Set<number>; // entity indexes
}

const BASE = Date.UTC(2019, 10, 1);
const SPAN_MS = 14 * 24 * 3600 * 1000;
const TOPIC_BY_NAME = new Map(TOPICS.map((t) => [t.category, t]));

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function word(rng: Random, slot: string, topic: Topic, sub: string): string {
  switch (slot) {
    case "C":
      return rng.pick(topic.words);
    case "S":
      return rng.pick(topic.subcategories[sub]!);
    case "N": {
      const n = TOPIC_BY_NAME.get(topic.neighbour)!;
      return rng.chance(0.5) ? rng.pick(n.words) : rng.pick(GENERAL);
    }
    default:
      return rng.pick(GENERAL);
  }
}

/** The i-th news item; items are in publication order. With entities, half of them mention one. */
export function makeNews(rng: Random, i: number, total: number, entities?: EntityTable): SynthNews {
  const topic = rng.pick(TOPICS);
  const subs = Object.keys(topic.subcategories);
  const sub = rng.pick(subs);
  const tpl = rng.pick(TEMPLATES);
  const words = tpl.map((slot) => word(rng, slot, topic, sub));
  if (rng.chance(0.3)) words.splice(rng.int(1, words.length - 1), 0, String(rng.int(2, 99)));
  const entity = entities && rng.chance(MENTION_SHARE) ? entities.mentionedIn(rng, topic.category) : undefined;
  if (entity) words.splice(rng.int(0, words.length), 0, entity.name);
  const title = words.map((x, k) => (k === 0 || rng.chance(0.5) ? capitalise(x) : x)).join(" ") + (rng.chance(0.15) ? "?" : "");
  const abstractWords: string[] = [];
  const n = rng.chance(0.1) ? 0 : rng.int(12, 28);
  for (let k = 0; k < n; k++) abstractWords.push(word(rng, rng.pick(["C", "S", "G", "G", "N"]), topic, sub));
  if (entity && n) abstractWords.splice(rng.int(0, n), 0, entity.name);
  const abstract = n ? `${capitalise(abstractWords.join(" "))}.` : "";
  const publishedAt = new Date(BASE + Math.floor((SPAN_MS * i) / Math.max(total, 1)));
  const item: SynthNews = { id: `N${i + 1}`, category: topic.category, subcategory: sub, title, abstract, publishedAt };
  if (entity) item.entity = entity;
  return item;
}

function makeUser(rng: Random, i: number, entities: number): User {
  const prefs = new Map<string, number>();
  const categories = new Set<string>();
  const k = rng.int(1, 3);
  while (categories.size < k) categories.add(rng.pick(TOPICS).category);
  for (const c of categories) {
    const subs = Object.keys(TOPIC_BY_NAME.get(c)!.subcategories);
    for (const s of subs) prefs.set(s, 0.35);
    prefs.set(rng.pick(subs), 1);
  }
  const follows = new Set<number>();
  if (entities > 0 && rng.chance(FOLLOWER_SHARE)) {
    const f = Math.min(entities, rng.int(1, 2));
    while (follows.size < f) follows.add(rng.int(0, entities - 1));
  }
  return { id: `U${i + 1}`, prefs, categories, follows };
}

function followed(u: User, n: SynthNews): boolean {
  return n.entity !== undefined && u.follows.has(n.entity.index);
}

function affinity(u: User, n: SynthNews): number {
  return (u.prefs.get(n.subcategory) ?? 0) + (followed(u, n) ? ENTITY_AFFINITY : 0);
}

/** Index of news by category, so that on-interest picks need no scan. */
class Pool {
  readonly byCategory = new Map<string, number[]>();
  readonly byEntity = new Map<number, number[]>();
  constructor(
    readonly items: SynthNews[],
    readonly lo: number,
    readonly hi: number,
  ) {
    for (let i = lo; i < hi; i++) {
      const c = items[i]!.category;
      let list = this.byCategory.get(c);
      if (!list) this.byCategory.set(c, (list = []));
      list.push(i);
      const e = items[i]!.entity;
      if (e) {
        let el = this.byEntity.get(e.index);
        if (!el) this.byEntity.set(e.index, (el = []));
        el.push(i);
      }
    }
  }
  random(rng: Random): number {
    return rng.int(this.lo, this.hi - 1);
  }
  /** An on-interest item, preferred subcategories more often. */
  interest(rng: Random, u: User): number {
    for (let tries = 0; tries < 8; tries++) {
      const list = this.byCategory.get(rng.pick([...u.categories]));
      if (!list?.length) continue;
      const i = rng.pick(list);
      if (rng.next() < affinity(u, this.items[i]!)) return i;
    }
    return this.random(rng);
  }
  /** A news item that mentions one of the entities the user follows (any category). */
  followed(rng: Random, u: User): number {
    const list = this.byEntity.get(rng.pick([...u.follows]));
    return list?.length ? rng.pick(list) : this.interest(rng, u);
  }
  /** What the user picks when not clicking at random: for a follower, sometimes an entity's news. */
  onInterest(rng: Random, u: User): number {
    // Users who follow nothing make no extra draw: corpora without entities stay as they were.
    return u.follows.size && rng.chance(ENTITY_PICK_SHARE) ? this.followed(rng, u) : this.interest(rng, u);
  }
  offInterest(rng: Random, u: User): number {
    for (let tries = 0; tries < 8; tries++) {
      const i = this.random(rng);
      if (!u.categories.has(this.items[i]!.category) && !followed(u, this.items[i]!)) return i;
    }
    return this.random(rng);
  }
}

function formatTime(d: Date): string {
  const h = d.getUTCHours();
  const pad = (x: number) => String(x).padStart(2, "0");
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 || 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? "AM" : "PM"}`;
}

function newsRow(n: SynthNews): string {
  const titleEntities = n.entity ? entityColumn(n.entity, n.title) : "[]";
  const abstractEntities = n.entity && n.abstract.includes(n.entity.name) ? entityColumn(n.entity, n.abstract) : "[]";
  return `${[n.id, n.category, n.subcategory, n.title, n.abstract, "", titleEntities, abstractEntities].join("\t")}\n`;
}

function impressionRow(rng: Random, iid: number, u: User, history: number[], pool: Pool, noise: number, items: SynthNews[]): string {
  const size = rng.int(5, 30);
  const cands = new Set<number>();
  const onInterest = Math.max(1, Math.round(size * 0.2));
  for (let k = 0; k < onInterest; k++) cands.add(pool.onInterest(rng, u));
  while (cands.size < size) cands.add(pool.random(rng));
  const list = [...cands];
  for (let k = list.length - 1; k > 0; k--) {
    const j = rng.int(0, k);
    [list[k], list[j]] = [list[j]!, list[k]!];
  }
  const clicks = new Set<number>();
  const nClicks = Math.min(list.length - 1, 1 + (rng.chance(0.35) ? 1 : 0) + (rng.chance(0.15) ? 1 : 0));
  for (let c = 0; c < nClicks; c++) {
    const off = rng.chance(noise);
    // Weighted by affinity for on-interest clicks; uniform among the rest for noise.
    const weights = list.map((i) => (clicks.has(i) ? 0 : off ? (affinity(u, items[i]!) === 0 ? 1 : 0) : affinity(u, items[i]!)));
    let total = weights.reduce((a, b) => a + b, 0);
    if (total === 0) {
      weights.forEach((_, k) => (weights[k] = clicks.has(list[k]!) ? 0 : 1));
      total = weights.reduce((a, b) => a + b, 0);
    }
    let r = rng.next() * total;
    let k = 0;
    while (k < weights.length - 1 && (r -= weights[k]!) > 0) k++;
    while (weights[k] === 0) k = (k + 1) % weights.length;
    clicks.add(list[k]!);
  }
  const time = formatTime(new Date(items[pool.lo]!.publishedAt.getTime() + rng.int(0, 3 * 24 * 3600) * 1000));
  const hist = history.map((i) => items[i]!.id).join(" ");
  const imps = list.map((i) => `${items[i]!.id}-${clicks.has(i) ? 1 : 0}`).join(" ");
  return `${iid}\t${u.id}\t${time}\t${hist}\t${imps}\n`;
}

async function write(stream: WriteStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, "drain");
}

async function close(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, "finish");
}

export interface SynthSummary {
  news: number;
  users: number;
  trainImpressions: number;
  validImpressions: number;
  unlabeledUsers: number;
  entities: number;
}

function drawHistory(rng: Random, u: User, pool: Pool, noise: number, len: number): number[] {
  const history: number[] = [];
  for (let k = 0; k < len; k++) history.push(rng.chance(noise) ? pool.offInterest(rng, u) : pool.onInterest(rng, u));
  return history.sort((a, b) => a - b);
}

/**
 * Writes OUT/train and OUT/valid. History clicks come from the oldest 60% of the news,
 * training impressions from the next 25%, validation impressions from the newest 15%.
 * Unlabeled users, drawn after the labelled ones by the same story, go to OUT/train/histories.tsv.
 */
export async function writeCorpus(o: SynthOptions): Promise<SynthSummary> {
  const rng = new Random(o.seed);
  const nEntities = o.entities ?? 0;
  const unlabeledUsers = o.unlabeledUsers ?? 0;
  const table = nEntities > 0 ? new EntityTable(makeEntities(rng, nEntities)) : undefined;
  const items: SynthNews[] = [];
  for (let i = 0; i < o.news; i++) items.push(makeNews(rng, i, o.news, table));
  const cut1 = Math.floor(o.news * 0.6);
  const cut2 = Math.floor(o.news * 0.85);
  const histPool = new Pool(items, 0, cut1);
  const trainPool = new Pool(items, cut1, cut2);
  const validPool = new Pool(items, cut2, o.news);

  const dirs = ["train", "valid"].map((d) => join(o.out, d));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const streams = dirs.map((d) => ({ news: createWriteStream(join(d, "news.tsv")), behaviors: createWriteStream(join(d, "behaviors.tsv")) }));
  let chunk = "";
  for (const n of items) {
    chunk += newsRow(n);
    if (chunk.length > 1 << 20) {
      for (const s of streams) await write(s.news, chunk);
      chunk = "";
    }
  }
  for (const s of streams) await write(s.news, chunk);

  let iid = 0;
  let trainImpressions = 0;
  let validImpressions = 0;
  const bufs = ["", ""];
  for (let ui = 0; ui < o.users; ui++) {
    const u = makeUser(rng, ui, nEntities);
    const history = drawHistory(rng, u, histPool, o.noise, rng.chance(0.05) ? 0 : rng.int(1, 50));
    const nTrain = rng.int(1, 5);
    for (let k = 0; k < nTrain; k++) bufs[0] += impressionRow(rng, ++iid, u, history, trainPool, o.noise, items);
    bufs[1] += impressionRow(rng, ++iid, u, history, validPool, o.noise, items);
    trainImpressions += nTrain;
    validImpressions += 1;
    for (let s = 0; s < 2; s++) {
      if (bufs[s]!.length > 1 << 20) {
        await write(streams[s]!.behaviors, bufs[s]!);
        bufs[s] = "";
      }
    }
  }
  for (let s = 0; s < 2; s++) await write(streams[s]!.behaviors, bufs[s]!);
  for (const s of streams) await Promise.all([close(s.news), close(s.behaviors)]);
  if (unlabeledUsers > 0) await writeHistories(o, rng, items, histPool, trainPool, iid, nEntities);
  return { news: o.news, users: o.users, trainImpressions, validImpressions, unlabeledUsers, entities: nEntities };
}

/**
 * OUT/train/histories.tsv: behaviors.tsv's five columns with the impressions column empty, one row
 * per unlabeled user (ids after the labelled users'), each with at least one click. Row ids
 * continue after the impressions', times fall where the training impressions' do.
 */
async function writeHistories(
  o: SynthOptions,
  rng: Random,
  items: SynthNews[],
  histPool: Pool,
  trainPool: Pool,
  lastId: number,
  nEntities: number,
): Promise<void> {
  const stream = createWriteStream(join(o.out, "train", "histories.tsv"));
  let buf = "";
  for (let k = 0; k < o.unlabeledUsers!; k++) {
    const u = makeUser(rng, o.users + k, nEntities);
    const history = drawHistory(rng, u, histPool, o.noise, rng.int(1, 50));
    const time = formatTime(new Date(items[trainPool.lo]!.publishedAt.getTime() + rng.int(0, 3 * 24 * 3600) * 1000));
    buf += `${lastId + k + 1}\t${u.id}\t${time}\t${history.map((i) => items[i]!.id).join(" ")}\t\n`;
    if (buf.length > 1 << 20) {
      await write(stream, buf);
      buf = "";
    }
  }
  await write(stream, buf);
  await close(stream);
}
