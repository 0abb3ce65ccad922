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
    private readonly onChange: (transport: Transport, inFlight: number) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastRelease = now();
  }

  get inFlight(): number {
    return this.counts.http + this.counts.grpc;
  }

  /** A ticket, or null when the server is full. */
  tryEnter(transport: Transport): Ticket | null {
    if (this.inFlight >= this.limit) return null;
    this.counts[transport]++;
    if (this.inFlight >= this.limit) this.fullSince = this.now();
    this.onChange(transport, this.counts[transport]);
    let abort: AbortController | null = null;
    let gone = false;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.counts[transport]--;
      this.lastRelease = this.now();
      this.onChange(transport, this.counts[transport]);
    };
    return {
      transport,
      get signal() {
        if (!abort) {
          abort = new AbortController();
          if (gone) abort.abort(GONE());
        }
        return abort.signal;
      },
      release,
      abandon: () => {
        if (held && !gone) {
          gone = true;
          abort?.abort(GONE());
        }
        release();
      },
    };
  }

  /**
   * Full for `ms`, with no slot given back meanwhile: every request is being refused and none is finishing,
   * which per-request deadlines should make impossible. Readiness reports it rather than hide it.
   */
  wedged(ms: number): boolean {
    return this.inFlight >= this.limit && this.now() - Math.max(this.lastRelease, this.fullSince) > ms;
  }
}
