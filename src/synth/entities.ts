/**
 * Named entities for the synthetic corpus: teams, people and places that news mention and users
 * follow. An entity has a home category, but its name recurs in news of every category (a team's
 * stadium deal is finance, its fans' arrest is news), so following one is an interest finer than a
 * category and across categories, which only a model that reads the words can find.
 */
import type { Random } from "./random.ts";
import { TOPICS } from "./topics.ts";

export type EntityKind = "team" | "person" | "place";

export interface Entity {
  index: number;
  kind: EntityKind;
  /** As written in titles: one or two capitalised words. */
  name: string;
  /** The category whose news mention it most. */
  home: string;
}

const ONSETS = ["b", "br", "d", "dr", "f", "g", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v", "z"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"];
const CODAS = ["", "", "n", "r", "l", "s", "m", "x", "th", "nd"];
/** Shared by many entities, as given names and mascots are: they alone do not identify one. */
const GIVEN = ["alex", "sam", "maria", "john", "lena", "omar", "kate", "diego", "nina", "paul", "rosa", "tom"];
const MASCOTS = ["ravens", "tigers", "comets", "kings", "rovers", "wolves", "giants", "pilots"];
/** Where each kind lives most often. */
const HOMES: Record<EntityKind, string[]> = {
  team: ["sports"],
  person: ["politics", "entertainment", "music", "finance", "sports", "tv"],
  place: ["travel", "weather", "news", "foodanddrink"],
};

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function pseudoWord(rng: Random): string {
  const n = rng.int(2, 3);
  let s = "";
  for (let k = 0; k < n; k++) s += rng.pick(ONSETS) + rng.pick(VOWELS) + (k === n - 1 ? rng.pick(CODAS) : "");
  return s;
}

/** n entities with distinct identifying words (never a topic or general word). */
export function makeEntities(rng: Random, n: number): Entity[] {
  const taken = new Set<string>([...GIVEN, ...MASCOTS]);
  for (const t of TOPICS) for (const w of [...t.words, ...Object.values(t.subcategories).flat()]) taken.add(w);
  const fresh = (): string => {
    for (;;) {
      const w = pseudoWord(rng);
      if (!taken.has(w)) {
        taken.add(w);
        return w;
      }
    }
  };
  const kinds: EntityKind[] = ["team", "person", "place"];
  const out: Entity[] = [];
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % 3]!;
    const word = capitalise(fresh());
    const name = kind === "team" ? `${word} ${capitalise(rng.pick(MASCOTS))}` : kind === "person" ? `${capitalise(rng.pick(GIVEN))} ${word}` : word;
    out.push({ index: i, kind, name, home: rng.pick(HOMES[kind]) });
  }
  return out;
}

/** Entities by home category, for picking the one a news item mentions. */
export class EntityTable {
  private readonly byHome = new Map<string, Entity[]>();
  constructor(readonly all: Entity[]) {
    for (const e of all) {
      let list = this.byHome.get(e.home);
      if (!list) this.byHome.set(e.home, (list = []));
      list.push(e);
    }
  }
  /** The entity a news item of this category mentions: mostly one at home there, else any. */
  mentionedIn(rng: Random, category: string): Entity {
    const home = this.byHome.get(category);
    return home?.length && rng.chance(0.6) ? rng.pick(home) : rng.pick(this.all);
  }
}

/** MIND's title_entities column: a JSON array of the mentions with their offsets in the title. */
export function entityColumn(e: Entity, title: string): string {
  const offset = title.indexOf(e.name);
  const type = e.kind === "person" ? "P" : e.kind === "place" ? "G" : "O";
  return JSON.stringify([
    { Label: e.name, Type: type, WikidataId: `E${e.index + 1}`, Confidence: 1, OccurrenceOffsets: offset >= 0 ? [offset] : [], SurfaceForms: [e.name] },
  ]);
}
