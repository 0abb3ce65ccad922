/**
 * Live catalog writes. News text is encoded through the micro-batched news encoder; then,
 * one write at a time, the change is appended to the write-ahead log and fsynced, applied
 * to the catalog, and only then acknowledged. Compaction runs in the same queue, so a
 * snapshot never misses a write it claims to include.
 */
import { join } from "node:path";
import type { Encoders } from "../model/encoders.ts";
import type { Metrics } from "../metrics.ts";
import type { Catalog, NewsMeta } from "./store.ts";
import { writeSnapshot } from "./snapshot.ts";
import { encodeVector, type WriteAheadLog } from "./wal.ts";

export interface Durability {
  wal: WriteAheadLog;
  dataDir: string;
  lastSeq: number;
  hnsw: { m: number; efConstruction: number };
}

export class NewsWriter {
  private chain: Promise<unknown> = Promise.resolve();
  lastSnapshotAt = Date.now();

  constructor(
    private readonly catalog: Catalog,
    private readonly encoders: Encoders,
    private readonly metrics: Metrics,
    private readonly durable: Durability | null = null,
  ) {}

  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  async upsert(items: NewsMeta[]): Promise<number> {
    const vectors = await Promise.all(items.map((n) => this.encoders.encodeNews(n)));
    return this.serial(async () => {
      if (this.durable) {
        await this.durable.wal.append({ seq: ++this.durable.lastSeq, op: "upsert", items: items.map((meta, i) => ({ meta, vector: encodeVector(vectors[i]!) })) });
      }
      items.forEach((n, i) => this.catalog.upsert(n, vectors[i]!));
      this.refreshGauges();
      return items.length;
    });
  }

  delete(id: string): Promise<boolean> {
    return this.serial(async () => {
      if (!this.catalog.has(id)) return false;
      if (this.durable) await this.durable.wal.append({ seq: ++this.durable.lastSeq, op: "delete", id });
      this.catalog.delete(id);
      this.refreshGauges();
      return true;
    });
  }

  /** Writes a snapshot of everything acknowledged so far, then empties the log. */
  compact(): Promise<boolean> {
    return this.serial(async () => {
      const d = this.durable;
      if (!d) return false;
      const m = this.encoders.bundle.manifest;
      writeSnapshot(this.catalog, join(d.dataDir, "snapshot"), { model: { name: m.name, version: m.version }, lastSeq: d.lastSeq, hnsw: d.hnsw });
      await d.wal.truncate();
      this.lastSnapshotAt = Date.now();
      this.refreshGauges();
      return true;
    });
  }

  get walBytes(): number {
    return this.durable?.wal.size ?? 0;
  }

  async close(): Promise<void> {
    await this.serial(() => undefined);
    await this.durable?.wal.close();
  }

  refreshGauges(): void {
    this.metrics.catalogItems.set(this.catalog.size);
    this.metrics.indexCapacity.set(this.catalog.index.capacity);
    this.metrics.indexDeleted.set(this.catalog.index.deletedCount);
    this.metrics.walBytes.set(this.walBytes);
  }
}
