/**
 * Applies the catalog log to this replica's catalog, in stream order, one message at a time:
 * every replica applies the same sequence, so every replica serves the same catalog. A
 * writer waiting for its own message (by its de-duplication id) is answered once that message
 * is applied here, so a client reads its write on the replica that took it. A gap in the
 * sequence (the stream trimmed past this replica) or a message this replica cannot apply (a
 * vector of another model) stops the follower: it never applies writes out of order, and its
 * health says why. A compaction holds the follower while it writes the snapshot.
 */
import type { Catalog } from "../store.ts";
import { decodeWrite, type DecodedWrite } from "./log-message.ts";
import type { LogMessage } from "./nats-log.ts";

export const MSG_ID_HEADER = "Nats-Msg-Id";

export interface Applied {
  seq: number;
  /** Upserted items, or whether the deleted item was there. */
  result: number | boolean;
}

interface Waiter {
  done: (a: Applied) => void;
  fail: (err: Error) => void;
}

export class LogFollower {
  /** The last sequence applied to the catalog (the base snapshot's, before any message). */
  appliedSeq: number;
  /** The highest sequence known to exist in the stream (deliveries, acknowledgements, probes). */
  private knownLastSeq: number;
  private appliedPublishedAt = 0;
  /** When this replica last applied a message (or started), by its own clock. */
  lastAppliedAt = Date.now();
  private learnedAt = 0;
  /** Why the follower stopped for good, or null. */
  stalled: string | null = null;
  private readonly waiters = new Map<string, Waiter>();
  private readonly seqWaiters: { seq: number; done: () => void; fail: (err: Error) => void }[] = [];
  private hold: Promise<unknown> | null = null;

  constructor(
    private readonly catalog: Catalog,
    private readonly expect: { fingerprint: string; dimension: number },
    baseSeq: number,
    private readonly onApplied: () => void = () => {},
  ) {
    this.appliedSeq = baseSeq;
    this.knownLastSeq = baseSeq;
  }

  /** Messages known to exist and not applied here yet. */
  get lagMessages(): number {
    return Math.max(0, this.knownLastSeq - this.appliedSeq);
  }

  /** Seconds this replica has been behind (0 when it has applied everything it knows of). */
  lagSeconds(now = Date.now()): number {
    if (this.lagMessages === 0) return 0;
    return Math.max(0, now - Math.max(this.appliedPublishedAt, this.learnedAt)) / 1000;
  }

  /** Milliseconds the follower has known of a message it has not applied, without applying any. */
  stuckFor(now = Date.now()): number {
    return this.lagMessages === 0 ? 0 : now - Math.max(this.lastAppliedAt, this.learnedAt);
  }

  /** The stream holds at least `seq` messages (a probe's or a publish acknowledgement's word). */
  sawSeq(seq: number): void {
    if (seq <= this.knownLastSeq) return;
    if (this.knownLastSeq <= this.appliedSeq) this.learnedAt = Date.now();
    this.knownLastSeq = seq;
  }

  /** Resolves when the message published with `msgId` is applied here; register before publishing. */
  expectMessage(msgId: string): { applied: Promise<Applied>; cancel: () => void } {
    let waiter!: Waiter;
    const applied = new Promise<Applied>((done, fail) => (waiter = { done, fail }));
    this.waiters.set(msgId, waiter);
    if (this.stalled) waiter.fail(new Error(this.stalled));
    return { applied, cancel: () => this.waiters.delete(msgId) };
  }

  /** Resolves once every message up to `seq` is applied here; rejects if the follower stalls first. */
  until(seq: number): Promise<void> {
    if (this.appliedSeq >= seq) return Promise.resolve();
    if (this.stalled) return Promise.reject(new Error(this.stalled));
    return new Promise((done, fail) => this.seqWaiters.push({ seq, done, fail }));
  }

  /** Runs `fn` with no message applied meanwhile (a snapshot must see one state). */
  async held<T>(fn: () => Promise<T>): Promise<T> {
    while (this.hold) await this.hold;
    const run = fn();
    this.hold = run.catch(() => {});
    try {
      return await run;
    } finally {
      this.hold = null;
    }
  }

  /** The consumer's callback: applies one delivered message (redeliveries of applied ones are skipped). */
  async apply(m: LogMessage): Promise<void> {
    while (this.hold) await this.hold;
    if (this.stalled || m.seq <= this.appliedSeq) return;
    this.sawSeq(m.seq + m.pending);
    if (m.seq !== this.appliedSeq + 1) {
      return this.stop(
        `the catalog log continues at sequence ${m.seq}, but this replica has applied up to ${this.appliedSeq}: the stream was trimmed past it. Restart the replica: it then starts from the newest snapshot`,
      );
    }
    let write: DecodedWrite;
    try {
      write = decodeWrite(m.seq, m.data, m.headers, this.expect);
    } catch (err) {
      return this.stop(`${(err as Error).message}; this replica stopped applying the log at sequence ${this.appliedSeq}`);
    }
    if (write.op === "upsert" && this.catalog.tokenSpec && write.items.some((it) => !it.tokens))
      return this.stop(
        `catalog log message ${m.seq} holds news without token ids, which this model's user encoder reads; this replica stopped applying the log at sequence ${this.appliedSeq}`,
      );
    let result: number | boolean;
    if (write.op === "upsert") {
      for (const { meta, vector, tokens } of write.items) this.catalog.upsert(meta, vector, true, tokens);
      result = write.items.length;
    } else {
      result = this.catalog.has(write.id);
      if (result) this.catalog.delete(write.id);
    }
    this.appliedSeq = m.seq;
    this.appliedPublishedAt = m.publishedAt;
    this.lastAppliedAt = Date.now();
    this.onApplied();
    const id = m.headers[MSG_ID_HEADER];
    const w = id === undefined ? undefined : this.waiters.get(id);
    if (w) {
      this.waiters.delete(id!);
      w.done({ seq: m.seq, result });
    }
    for (let i = this.seqWaiters.length - 1; i >= 0; i--) {
      const s = this.seqWaiters[i]!;
      if (s.seq <= this.appliedSeq) {
        this.seqWaiters.splice(i, 1);
        s.done();
      }
    }
  }

  /** Stops applying for good; writers waiting are told why. */
  stop(reason: string): void {
    if (this.stalled) return;
    this.stalled = reason;
    for (const w of this.waiters.values()) w.fail(new Error(reason));
    this.waiters.clear();
    for (const s of this.seqWaiters.splice(0)) s.fail(new Error(reason));
  }
}
