/**
 * Admission control shared by both transports: at most `limit` requests in progress; past it,
 * new ones are refused at once. A slot is a Ticket whose release is idempotent, so every way a
 * request can end (answered, failed, timed out, client gone at any moment, and several of these
 * at once) gives the slot back exactly once.
 */
import { NewsrecError } from "../errors.ts";

export type Transport = "http" | "grpc";

/** What work done for a request needs to drop it when its client goes away. */
export interface Cancellation {
  /** Aborted when the client goes away before its answer. Made when first read: most requests never wait. */
  readonly signal: AbortSignal;
}

export interface Ticket extends Cancellation {
  readonly transport: Transport;
  /** Marks the client as gone; releases the slot. */
  abandon(): void;
  release(): void;
}

const GONE = () => new NewsrecError("CANCELLED", "the client went away before its answer");

export class Admission {
  private readonly counts: Record<Transport, number> = { http: 0, grpc: 0 };
  /** performance.now() of the last release (or of creation). */
  private lastRelease: number;
  /** performance.now() when every slot last became taken. */
  private fullSince = 0;

  constructor(
    public limit: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastRelease = now();
  }

  get inFlight(): number {
    return this.counts.http + this.counts.grpc;
  }

  /** Slots held by one transport's requests (read by the in-flight gauge when scraped). */
  inFlightOf(transport: Transport): number {
    return this.counts[transport];
  }

  /** A ticket, or null when the server is full. */
  tryEnter(transport: Transport): Ticket | null {
    if (this.inFlight >= this.limit) return null;
    this.counts[transport]++;
    if (this.inFlight >= this.limit) this.fullSince = this.now();
    return new Slot(this, transport);
  }

  /** A slot given back (Slot.release, once per slot). */
  leave(transport: Transport): void {
    this.counts[transport]--;
    this.lastRelease = this.now();
  }

  /**
   * Full for `ms`, with no slot given back meanwhile: every request is being refused and none is finishing,
   * which per-request deadlines should make impossible. Readiness reports it rather than hide it.
   */
  wedged(ms: number): boolean {
    return this.inFlight >= this.limit && this.now() - Math.max(this.lastRelease, this.fullSince) > ms;
  }
}

/** A taken slot; a class rather than closures, since one is made per request. */
class Slot implements Ticket {
  private abort: AbortController | null = null;
  private gone = false;
  private held = true;

  constructor(
    private readonly admission: Admission,
    readonly transport: Transport,
  ) {}

  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.gone) this.abort.abort(GONE());
    }
    return this.abort.signal;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.admission.leave(this.transport);
  }

  abandon(): void {
    if (this.held && !this.gone) {
      this.gone = true;
      this.abort?.abort(GONE());
    }
    this.release();
  }
}
