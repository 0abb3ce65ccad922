/**
 * Stand-ins for the encoders and the write-ahead log, so that the rank service and the write
 * path run in unit tests without worker threads, ONNX sessions or files. Each implements only
 * what its user calls, and records the calls.
 */
import { Catalog, type CatalogOptions, type NewsMeta } from "../../src/catalog/store.ts";
import type { WalRecord, WriteAheadLog } from "../../src/catalog/wal.ts";
import type { Encoders, UserInput, UserVector } from "../../src/model/encoders.ts";

/** Every catalog of up to 10,000 items is scored exactly, so results do not depend on the graph. */
const EXACT: CatalogOptions = { m: 8, efConstruction: 32, efSearch: 16, exactMaxItems: 10_000, maxAgeHours: 0, phi: 100 };

export function catalogOf(dim: number, items: [NewsMeta, number[]][]): Catalog {
  const c = new Catalog(dim, "fp-test", EXACT, 16);
  for (const [meta, v] of items) c.upsert(meta, Float32Array.from(v));
  return c;
}

export interface FakeEncoders {
  encoders: Encoders;
  /** The inputs the user encoder was called with, in order. */
  userCalls: UserInput[];
  newsCalls: NewsMeta[];
}

/**
 * userVector: what the user encoder answers (with attention when given). encodeNews makes a
 * vector from the title: [its length, 1], enough to tell items apart.
 */
export function fakeEncoders(o: { dim?: number; maxHistory?: number; user?: (input: UserInput) => UserVector } = {}): FakeEncoders {
  const userCalls: UserInput[] = [];
  const newsCalls: NewsMeta[] = [];
  const user = o.user ?? (() => ({ vector: Float32Array.from([1, 0]) }));
  const fake = {
    bundle: {
      manifest: {
        name: "fake",
        version: "0.0.1",
        fingerprint: "fp-test",
        encoders: { user: { input: "news_vectors" } },
        userInput: { maxHistory: o.maxHistory ?? 50 },
      },
    },
    async encodeUser(input: UserInput): Promise<UserVector> {
      userCalls.push(input);
      return user(input);
    },
    /** A bundle whose user encoder reads news vectors keeps no token ids. */
    clickTokens(): null {
      return null;
    },
    async encodeNews(n: NewsMeta): Promise<Float32Array> {
      newsCalls.push(n);
      return Float32Array.from([n.title.length, 1]);
    },
  };
  return { encoders: fake as unknown as Encoders, userCalls, newsCalls };
}

/**
 * A write-ahead log in memory. hold() makes the next appends wait until release(), so that
 * writes queue up behind them; failWith() makes appends throw until cleared.
 */
export class FakeWal {
  readonly appends: WalRecord[][] = [];
  size = 0;
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private failure: Error | null = null;
  /** Resolves each time an append starts (tests wait on it instead of on time). */
  private started: (() => void)[] = [];

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.gate = null;
    this.open?.();
  }

  failWith(err: Error | null): void {
    this.failure = err;
  }

  /** Resolves once `n` appends have started in all. */
  whenAppends(n: number): Promise<void> {
    if (this.appends.length >= n) return Promise.resolve();
    return new Promise((r) => this.started.push(() => this.appends.length >= n && r()));
  }

  async append(records: WalRecord[]): Promise<void> {
    this.appends.push(records);
    for (const s of this.started) s();
    const gate = this.gate;
    if (gate) await gate;
    if (this.failure) throw this.failure;
    this.size += records.length;
  }

  async truncate(): Promise<void> {
    this.size = 0;
  }

  async probe(): Promise<void> {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {}

  get asWal(): WriteAheadLog {
    return this as unknown as WriteAheadLog;
  }
}
