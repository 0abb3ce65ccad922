/**
 * Live catalog writes. News text is encoded through the micro-batched news encoder; then the
 * change joins the commit queue. Writes that queue up while the log is busy are committed
 * together (group commit): their records are appended to the write-ahead log in one write and
 * one fsync, applied to the catalog in arrival order, and only then acknowledged. Compaction
 * runs in the same queue, between groups, so a snapshot never misses a write it claims to
 * include. When the disk refuses a write (full, a file-size limit, an I/O error), that write
 * fails with UNAVAILABLE, health() reports it, and a probe every second clears it once the
 * disk takes writes again, so readiness recovers without traffic.
 */
import type { Encoders } from "../model/encoders.ts";
import type { Metrics } from "../metrics.ts";
import type { Catalog, NewsMeta } from "./store.ts";
import { swapSnapshot } from "./datadir.ts";
import { walItem, WalWriteError, type WalRecord, type WriteAheadLog } from "./wal.ts";
import type { SnapshotHnsw } from "./snapshot.ts";

export interface Durability {
  wal: WriteAheadLog;
  dataDir: string;
  lastSeq: number;
  /** Carried into every compacted snapshot, so a tuned efSearch outlives compactions. */
  hnsw: SnapshotHnsw;
  /** One line per change of the write path's state (failing, recovered). */
  log: (line: string) => void;
}

export type WriteHealth = { ok: true } | { ok: false; reason: string };

/** How often a failing write path is probed, and the probe's size bounds. */
const PROBE_MS = 1000;
const PROBE_MIN = 4096;
const PROBE_MAX = 1 << 20;

interface Pending<T> {
  done: (value: T) => void;
  fail: (err: unknown) => void;
}
type Op =
  | ({ kind: "upsert"; items: NewsMeta[]; vectors: Float32Array[]; tokens: (number[] | null)[] } & Pending<number>)
  | ({ kind: "delete"; id: string } & Pending<boolean>)
  | ({ kind: "compact" } & Pending<boolean>);
type WriteOp = Exclude<Op, { kind: "compact" }>;

export class NewsWriter {
  private queue: Op[] = [];
  private draining: Promise<void> | null = null;
  lastSnapshotAt = Date.now();
  /** The last durable write failed: why, and how many bytes it needed (the probe's size). */
  private failing: { reason: string; bytes: number } | null = null;
  private probeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly catalog: Catalog,
    private readonly encoders: Encoders,
    private readonly metrics: Metrics,
    private readonly durable: Durability | null = null,
  ) {}

  /**
   * The promise returned is the one the commit settles (not one adopting it, which would settle
   * a few microtasks later), so that callers see acknowledgements in the order of the log.
   */
  upsert(items: NewsMeta[]): Promise<number> {
    return new Promise((done, fail) => {
      Promise.all(items.map((n) => this.encoders.encodeNews(n))).then(
        (vectors) => this.submit({ kind: "upsert", items, vectors, tokens: items.map((n) => this.encoders.clickTokens(n)), done, fail }),
        fail,
      );
    });
  }

  /** Resolves false when the item is not in the catalog (nothing is logged then). */
  delete(id: string): Promise<boolean> {
    return new Promise((done, fail) => this.submit({ kind: "delete", id, done, fail }));
  }

  /** Writes a snapshot of everything acknowledged so far, then empties the log. */
  compact(): Promise<boolean> {
    return new Promise((done, fail) => this.submit({ kind: "compact", done, fail }));
  }

  private submit(op: Op): void {
    this.queue.push(op);
    this.kick();
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.queue.length) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const head = this.queue[0]!;
      if (head.kind === "compact") {
        this.queue.shift();
        await this.runCompact().then(head.done, head.fail);
        continue;
      }
      const end = this.queue.findIndex((o) => o.kind === "compact");
      const group = this.queue.splice(0, end < 0 ? this.queue.length : end) as WriteOp[];
      // Settling an already settled write is a no-op: only the unanswered ones see the error.
      await this.commit(group).catch((err) => group.forEach((op) => op.fail(err)));
    }
  }

  /** One group: log every effective write with one fsync, then apply and acknowledge in order. */
  private async commit(group: WriteOp[]): Promise<void> {
    // Whether an id exists once the earlier writes of this group are applied.
    const exists = new Map<string, boolean>();
    const effective = new Set<WriteOp>();
    for (const op of group) {
      if (op.kind === "upsert") {
        for (const m of op.items) exists.set(m.id, true);
        effective.add(op);
      } else if (exists.get(op.id) ?? this.catalog.has(op.id)) {
        exists.set(op.id, false);
        effective.add(op);
      }
    }
    const d = this.durable;
    if (d && effective.size) {
      const records: WalRecord[] = [...effective].map((op) =>
        op.kind === "upsert"
          ? { seq: ++d.lastSeq, op: "upsert", items: op.items.map((meta, i) => walItem(meta, op.vectors[i]!, op.tokens[i]!)) }
          : { seq: ++d.lastSeq, op: "delete", id: op.id },
      );
      try {
        await d.wal.append(records);
      } catch (err) {
        // Nothing of this group is on disk: its numbers are free again.
        d.lastSeq -= records.length;
        if (err instanceof WalWriteError) this.writeFailed(err);
        for (const op of group) op.fail(err);
        return;
      }
      this.writeSucceeded();
      this.metrics.walCommitRecords.observe(records.length);
    }
    for (const op of group) {
      try {
        if (op.kind === "upsert") {
          op.items.forEach((n, i) => this.catalog.upsert(n, op.vectors[i]!, true, op.tokens[i]!));
          op.done(op.items.length);
        } else {
          if (effective.has(op)) this.catalog.delete(op.id);
          op.done(effective.has(op));
        }
      } catch (err) {
        op.fail(err);
      }
    }
    this.refreshGauges();
  }

  private async runCompact(): Promise<boolean> {
    const d = this.durable;
    if (!d) return false;
    const m = this.encoders.bundle.manifest;
    await swapSnapshot(this.catalog, d.dataDir, { model: { name: m.name, version: m.version }, lastSeq: d.lastSeq, hnsw: d.hnsw });
    await d.wal.truncate();
    this.lastSnapshotAt = Date.now();
    this.refreshGauges();
    return true;
  }

  get walBytes(): number {
    return this.durable?.wal.size ?? 0;
  }

  /** Whether writes are durable now (readiness); false while the disk refuses them. */
  health(): WriteHealth {
    return this.failing ? { ok: false, reason: this.failing.reason } : { ok: true };
  }

  private writeFailed(err: WalWriteError): void {
    this.metrics.walWriteFailures.inc({ cause: err.errno });
    const was = this.failing;
    this.failing = { reason: `durable writes are failing: ${err.message}`, bytes: err.bytes };
    if (was) return;
    this.durable!.log(`write-ahead log: ${err.message}; probing the disk every ${PROBE_MS / 1000} s`);
    this.probeTimer = setInterval(() => this.probe(), PROBE_MS);
    this.probeTimer.unref();
  }

  private writeSucceeded(): void {
    if (!this.failing) return;
    this.failing = null;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.durable!.log("write-ahead log: the disk takes writes again; writes recovered");
  }

  private probing = false;
  private probe(): void {
    const f = this.failing;
    if (!f || this.probing || !this.durable) return;
    this.probing = true;
    this.durable.wal
      .probe(Math.min(PROBE_MAX, Math.max(PROBE_MIN, f.bytes)))
      .then(
        () => this.writeSucceeded(),
        () => {},
      )
      .finally(() => (this.probing = false));
  }

  /** Waits for every queued write, then closes the log. */
  async close(): Promise<void> {
    while (this.draining) await this.draining;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    await this.durable?.wal.close();
  }

  refreshGauges(): void {
    this.metrics.catalogItems.set(this.catalog.size);
    this.metrics.indexCapacity.set(this.catalog.index.capacity);
    this.metrics.indexDeleted.set(this.catalog.index.deletedCount);
    this.metrics.indexEfSearch.set(this.catalog.index.efSearch);
    this.metrics.walBytes.set(this.walBytes);
  }
}
