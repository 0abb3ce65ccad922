/**
 * Catalog writes through the replicated catalog log. A write is validated and encoded on the
 * replica that receives it, published to the JetStream stream with a de-duplication id (a
 * retry of the same publish is stored once), and acknowledged only once JetStream has
 * acknowledged it (a quorum of the cluster holds it) and this replica has applied it from the
 * stream (read-your-writes here). Every replica, this one included, applies the stream in
 * order (follower.ts). While JetStream cannot take writes (unreachable, no quorum, no leader)
 * the catalog is read-only: writes fail at once with UNAVAILABLE naming the cause, reads go
 * on, and a probe every second notices when writes can resume. Snapshots of the data dir
 * record the stream sequence they include.
 */
import { randomUUID } from "node:crypto";
import { NewsrecError } from "../../errors.ts";
import type { Encoders } from "../../model/encoders.ts";
import type { Metrics } from "../../metrics.ts";
import type { CatalogLogStatus, CatalogWriter } from "../catalog-writer.ts";
import { swapSnapshot } from "../datadir.ts";
import type { SnapshotHnsw } from "../snapshot.ts";
import type { Catalog, NewsMeta } from "../store.ts";
import type { WriteHealth } from "../writer.ts";
import type { Applied, LogFollower } from "./follower.ts";
import { encodeDelete, encodeUpsert, FINGERPRINT_HEADER, FORMAT, FORMAT_HEADER } from "./log-message.ts";
import type { Following, NatsCatalogLog } from "./nats-log.ts";

export interface ReplicationOptions {
  stream: string;
  /** The stream's creation time: a stream created again is another log. */
  created: string;
  /** Longest wait for JetStream's acknowledgement, and then for this replica to apply the write. */
  timeoutMs: number;
  dataDir?: string;
  hnsw: SnapshotHnsw;
  model: { name: string; version: string };
  compactIntervalSeconds: number;
  log: (line: string) => void;
}

const PROBE_MS = 1000;
const RETRY_MS = 200;
/** A follower that knows of messages and applies none for this long follows again. */
const STALL_MS = 2000;
/** After a failure, JetStream must look healthy this long before writes are taken again. */
const RECOVER_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class ReplicatedWriter implements CatalogWriter {
  lastSnapshotAt = Date.now();
  readonly walBytes = 0;
  /** Why JetStream cannot take writes now, or null. */
  private readOnly: string | null = null;
  private readonly replicaId = randomUUID();
  private counter = 0;
  private probing = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private following: Following | null = null;
  private lastRestart = 0;
  private lastFailureAt = 0;
  private lastFollowError = "";
  private closed = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly encoders: Encoders,
    private readonly metrics: Metrics,
    private readonly natsLog: NatsCatalogLog,
    private readonly follower: LogFollower,
    private readonly opts: ReplicationOptions,
    /** The sequence the data dir's newest snapshot includes. */
    private snapshotSeq: number,
  ) {
    metrics.catalogLog = () => ({
      applied: follower.appliedSeq,
      lagMessages: follower.lagMessages,
      lagSeconds: follower.lagSeconds(),
      readOnly: this.readOnly !== null,
    });
  }

  /** Follows the stream from the base's next sequence; probes writability every second. */
  start(): void {
    this.following = this.natsLog.follow(
      this.follower.appliedSeq + 1,
      (m) => this.follower.apply(m),
      (err) => {
        if (err.message !== this.lastFollowError) this.opts.log(`catalog log: ${err.message}; retrying every second`);
        this.lastFollowError = err.message;
      },
    );
    this.every(PROBE_MS, () => void this.probe());
    if (this.opts.dataDir && this.opts.compactIntervalSeconds > 0)
      this.every(this.opts.compactIntervalSeconds * 1000, () => {
        if (this.follower.appliedSeq > this.snapshotSeq) this.compact().catch((err) => this.opts.log(`compaction failed: ${(err as Error).message}`));
      });
    void this.probe();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /** The connection's news (a lost or regained server): probed at once rather than within a second. */
  connectionChanged(event: "connected" | "disconnected", detail: string): void {
    if (event === "disconnected") this.setReadOnly(detail);
    void this.probe();
  }

  async upsert(items: NewsMeta[]): Promise<number> {
    this.assertWritable();
    const vectors = await Promise.all(items.map((n) => this.encoders.encodeNews(n)));
    const messages = encodeUpsert(
      items,
      vectors,
      this.natsLog.maxPayload,
      items.map((n) => this.encoders.clickTokens(n)),
    );
    const results = await Promise.allSettled(messages.map((m) => this.publish(m)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) {
      const stored = results.filter((r) => r.status === "fulfilled").length;
      if (stored === 0) throw failed.reason;
      const err = failed.reason as NewsrecError;
      throw new NewsrecError(
        err.code,
        `${err.message} (the batch went out as ${messages.length} messages and ${stored} of them were stored; upserting it again is safe)`,
      );
    }
    return items.length;
  }

  async delete(id: string): Promise<boolean> {
    this.assertWritable();
    const applied = await this.publish(encodeDelete(id));
    return applied.result === true;
  }

  private assertWritable(): void {
    const why = this.natsLog.unreachable ?? this.readOnly ?? this.follower.stalled;
    if (why) throw new NewsrecError("UNAVAILABLE", `write not saved: the catalog is read-only: ${why} (reads go on)`);
  }

  /** Publishes one message and resolves once this replica has applied it. */
  private async publish(data: Uint8Array): Promise<Applied> {
    const msgId = `${this.replicaId}-${++this.counter}`;
    const expected = this.follower.expectMessage(msgId);
    const deadline = Date.now() + this.opts.timeoutMs;
    let seq: number;
    try {
      seq = await this.publishUntil(data, msgId, deadline);
    } catch (err) {
      expected.cancel();
      throw new NewsrecError("UNAVAILABLE", `write not saved: ${(err as Error).message} (reads go on)`, { cause: err });
    }
    this.follower.sawSeq(seq);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, fail) => {
      // Long enough for a consumer that stopped delivering to be noticed and replaced.
      const wait = this.opts.timeoutMs + STALL_MS + PROBE_MS;
      timer = setTimeout(() => fail(new Error(`this replica has not applied it within ${wait} ms (it is ${this.follower.lagMessages} messages behind)`)), wait);
    });
    try {
      return await Promise.race([expected.applied, late]);
    } catch (err) {
      expected.cancel();
      throw new NewsrecError(
        "UNAVAILABLE",
        `the write is stored in the catalog log at sequence ${seq}, but ${(err as Error).message}; every replica applies it once it can`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One publish, repeated with the same de-duplication id while JetStream has no answer
   * (an election after a node loss takes a few seconds) and the probe has not found the
   * catalog read-only meanwhile; the stream stores it once whatever the number of tries.
   */
  private async publishUntil(data: Uint8Array, msgId: string, deadline: number): Promise<number> {
    const headers = { [FORMAT_HEADER]: FORMAT, [FINGERPRINT_HEADER]: this.catalog.fingerprint };
    for (;;) {
      const left = deadline - Date.now();
      try {
        const ack = await this.natsLog.publish(data, msgId, headers, Math.max(1, left));
        return ack.seq;
      } catch (err) {
        const full = /stream is full/.test((err as Error).message);
        if (full || Date.now() + RETRY_MS >= deadline || this.readOnly || this.natsLog.unreachable) {
          this.setReadOnly((err as Error).message);
          void this.probe();
          throw err;
        }
        await sleep(RETRY_MS);
      }
    }
  }

  private async probe(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      const why = this.natsLog.unreachable;
      if (why) return this.setReadOnly(why);
      const st = await this.natsLog.state();
      if (st.created !== this.opts.created) {
        this.follower.stop(
          `the stream ${this.opts.stream} was created again (${st.created}; this replica follows the one created ${this.opts.created}); restart the replica on a snapshot of the new stream`,
        );
        return this.setReadOnly(this.follower.stalled);
      }
      this.follower.sawSeq(st.lastSeq);
      this.setReadOnly(st.noQuorum);
      // A consumer can stop delivering without telling the client (its node lost during a
      // reconnect): messages exist, none arrives, so follow again from the next sequence.
      const now = Date.now();
      if (!st.noQuorum && this.follower.stuckFor(now) > STALL_MS && now - this.lastRestart > STALL_MS) {
        this.lastRestart = now;
        this.opts.log(
          `catalog log: no message applied for ${(this.follower.stuckFor(now) / 1000).toFixed(1)} s while ${this.follower.lagMessages} wait; following again from sequence ${this.follower.appliedSeq + 1}`,
        );
        this.following?.restart();
      }
    } catch (err) {
      this.setReadOnly((err as Error).message);
    } finally {
      this.probing = false;
    }
  }

  private setReadOnly(reason: string | null): void {
    const now = Date.now();
    if (reason) this.lastFailureAt = now;
    // Just after a failure a leader can still vouch for followers it has lost: writable again
    // only once JetStream has looked healthy for a while.
    else if (this.readOnly && now - this.lastFailureAt < RECOVER_MS) return;
    const was = this.readOnly;
    this.readOnly = reason;
    if (reason && !was) this.opts.log(`catalog log: writes refused (the catalog is read-only; reads go on): ${reason}`);
    if (!reason && was) this.opts.log("catalog log: JetStream takes writes again; the catalog is writable");
  }

  /** Writes a snapshot of the catalog as applied so far into the data dir, with its sequence. */
  compact(): Promise<boolean> {
    const dataDir = this.opts.dataDir;
    if (!dataDir) return Promise.resolve(false);
    return this.follower.held(async () => {
      const seq = this.follower.appliedSeq;
      await swapSnapshot(this.catalog, dataDir, {
        model: this.opts.model,
        lastSeq: seq,
        hnsw: this.opts.hnsw,
        log: { stream: this.opts.stream, created: this.opts.created },
      });
      this.snapshotSeq = seq;
      this.lastSnapshotAt = Date.now();
      return true;
    });
  }

  /** Ready unless this replica has stopped following the log (it would serve a catalog that no longer converges). */
  health(): WriteHealth {
    const s = this.follower.stalled;
    return s ? { ok: false, reason: s } : { ok: true };
  }

  logStatus(): CatalogLogStatus {
    const why = this.natsLog.unreachable ?? this.readOnly ?? this.follower.stalled;
    return {
      stream: this.opts.stream,
      writable: why === null,
      ...(why ? { readOnlyReason: why } : {}),
      appliedSequence: this.follower.appliedSeq,
      lagMessages: this.follower.lagMessages,
      lagSeconds: this.follower.lagSeconds(),
    };
  }

  refreshGauges(): void {
    this.metrics.catalogItems.set(this.catalog.size);
    this.metrics.indexCapacity.set(this.catalog.index.capacity);
    this.metrics.indexDeleted.set(this.catalog.index.deletedCount);
    this.metrics.indexEfSearch.set(this.catalog.index.efSearch);
  }

  /** A last snapshot (when the data dir is behind), then the stream and the connection let go. */
  async close(opts: { snapshot?: boolean } = {}): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (opts.snapshot !== false && this.opts.dataDir && this.follower.appliedSeq > this.snapshotSeq)
      await this.compact().catch((err) => this.opts.log(`final compaction failed (the catalog log keeps every write): ${(err as Error).message}`));
    this.closed = true;
    this.following?.stop();
    await this.natsLog.close();
  }
}
