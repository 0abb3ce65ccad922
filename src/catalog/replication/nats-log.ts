/**
 * The catalog log on NATS JetStream: the only importer of the NATS client. One connection
 * (reconnecting forever across the given servers), one stream of catalog writes, publishes
 * with a de-duplication id (Nats-Msg-Id), an ordered consumer that follows the stream from any
 * sequence, and the stream's state for the writability probe and trimming. Errors come back
 * as plain Errors whose messages name the cause; the callers decide what a client sees.
 */
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";

export interface LogMessage {
  seq: number;
  data: Uint8Array;
  headers: Record<string, string>;
  /** When JetStream stored it (ms since epoch). */
  publishedAt: number;
  /** Messages in the stream after this one when it was delivered. */
  pending: number;
}

export interface StreamState {
  firstSeq: number;
  lastSeq: number;
  /** The stream's creation time: a stream deleted and created again restarts its sequence. */
  created: string;
  /** Why the stream cannot take writes now (no leader, too few current replicas), or null. */
  noQuorum: string | null;
}

export interface Following {
  stop(): void;
  /** Drops the consumer and follows again from the next sequence (one that stopped delivering). */
  restart(): void;
}

export interface LogOptions {
  servers: string[];
  stream: string;
  /** 0: 3 where the cluster has 3 or more nodes, else 1. */
  replicas: number;
  maxBytes: number;
  /** JetStream API calls (stream info, purge) give up after this. */
  apiTimeoutMs: number;
  name: string;
  onStatus: (event: "connected" | "disconnected", detail: string) => void;
}

/** A stream peer silent this long (nanoseconds) does not count towards a quorum. */
const PEER_SILENT_NS = 3e9;
const WAIT = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class NatsCatalogLog {
  private closed = false;
  private connected = false;
  private server = "";

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: LogOptions,
    readonly subject: string,
  ) {
    this.connected = true;
    this.server = nc.getServer();
    void this.watch();
  }

  /**
   * Connects (trying every server, for at most `timeoutMs`) and creates the stream if it is
   * missing. Rejects naming the servers and the cause when none answers in time.
   */
  static async open(opts: LogOptions, timeoutMs: number): Promise<NatsCatalogLog> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: timeoutMs,
      // The first attempt may find a server still starting: try the others.
      noRandomize: false,
    }).catch((err: Error) => {
      throw new Error(`cannot reach NATS at ${opts.servers.join(",")}: ${err.message}`, { cause: err });
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: opts.apiTimeoutMs });
      const js = jetstream(nc, { timeout: timeoutMs });
      const subject = `${opts.stream}.writes`;
      const log = new NatsCatalogLog(nc, js, jsm, opts, subject);
      await log.ensureStream();
      return log;
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") {
        this.connected = false;
        this.opts.onStatus("disconnected", `lost the connection to NATS at ${s.server}`);
      } else if (s.type === "reconnect") {
        this.connected = true;
        this.server = s.server;
        this.opts.onStatus("connected", `reconnected to NATS at ${s.server}`);
      }
    }
  }

  /** Why a publish cannot be sent now (no connection), or null. */
  get unreachable(): string | null {
    return this.connected ? null : `NATS is unreachable (reconnecting to ${this.opts.servers.join(",")})`;
  }

  /** The largest message the servers take, less room for headers. */
  get maxPayload(): number {
    return (this.nc.info?.max_payload ?? 1 << 20) - 4096;
  }

  get serverName(): string {
    return this.nc.info?.server_name ?? this.server;
  }

  private replicas(): number {
    if (this.opts.replicas > 0) return this.opts.replicas;
    const info = this.nc.info;
    const nodes = info?.cluster ? Math.max(1, info.connect_urls?.length ?? 1) : 1;
    return Math.min(3, nodes);
  }

  private async ensureStream(): Promise<void> {
    try {
      await this.jsm.streams.info(this.opts.stream);
      return;
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw describe(err, `stream ${this.opts.stream}`);
    }
    try {
      await this.jsm.streams.add({
        name: this.opts.stream,
        subjects: [this.subject],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        num_replicas: this.replicas(),
        max_bytes: this.opts.maxBytes,
        // A full stream refuses new writes (503) rather than dropping old ones a replica still needs.
        discard: DiscardPolicy.New,
        duplicate_window: 120_000_000_000,
      });
    } catch (err) {
      // Another replica created it first.
      if (/already in use|already exists/i.test((err as Error).message)) return;
      throw describe(err, `creating stream ${this.opts.stream}`);
    }
  }

  /** Stores one message; resolves with its stream sequence once JetStream has acknowledged it. */
  async publish(data: Uint8Array, msgId: string, hdrs: Record<string, string>, timeoutMs: number): Promise<{ seq: number; duplicate: boolean }> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    try {
      const ack = await this.js.publish(this.subject, data, { msgID: msgId, headers: h, timeout: timeoutMs });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw describe(err, `publishing to stream ${this.opts.stream}`);
    }
  }

  /**
   * The stream's bounds and whether it can take writes: JetStream answers stream info only
   * with a leader, and a leader that has lost its followers still answers for a while, so
   * the followers' currency is checked too.
   */
  async state(): Promise<StreamState> {
    let si: StreamInfo;
    try {
      si = await this.jsm.streams.info(this.opts.stream);
    } catch (err) {
      throw describe(err, `stream ${this.opts.stream}`);
    }
    return { firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, created: si.created, noQuorum: quorumProblem(si) };
  }

  /**
   * Delivers every message from `fromSeq` on, in order, to `apply` (awaited before the next),
   * until `stop` is called. The ordered consumer re-creates itself across reconnects and
   * server losses; when it cannot be created (no JetStream), it is retried every second.
   */
  follow(fromSeq: number, apply: (m: LogMessage) => Promise<void> | void, onError: (err: Error) => void): Following {
    let next = fromSeq;
    let stopped = false;
    let current: { stop(): void } | null = null;
    const run = async () => {
      while (!stopped && !this.closed) {
        try {
          const consumer = await this.js.consumers.get(this.opts.stream, {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: Math.max(1, next),
          });
          // Server heartbeats every second: a consumer lost with its node (ordered consumers
          // keep one copy) shows as missed heartbeats within two seconds, and is made again
          // from the next sequence rather than waited for.
          const messages = await consumer.consume({ max_messages: 512, expires: 2000, idle_heartbeat: 1000 });
          current = messages;
          if (stopped) messages.stop();
          void (async () => {
            for await (const s of await messages.status()) {
              if (s.type === "heartbeats_missed" && s.count >= 2) {
                onError(
                  new Error(`following stream ${this.opts.stream}: its consumer stopped answering (a NATS node lost?); following again from sequence ${next}`),
                );
                messages.stop();
                break;
              }
            }
          })();
          for await (const m of messages) {
            const hdrs: Record<string, string> = {};
            if (m.headers) for (const k of m.headers.keys()) hdrs[k] = m.headers.get(k);
            await apply({
              seq: m.info.streamSequence,
              data: m.data,
              headers: hdrs,
              publishedAt: Number(m.info.timestampNanos) / 1e6,
              pending: m.info.pending,
            });
            next = m.info.streamSequence + 1;
            if (stopped) break;
          }
        } catch (err) {
          if (!stopped && !this.closed) onError(describe(err, `following stream ${this.opts.stream}`));
        }
        current = null;
        if (!stopped && !this.closed) await WAIT(500);
      }
    };
    void run();
    return {
      stop: () => {
        stopped = true;
        current?.stop();
      },
      restart: () => current?.stop(),
    };
  }

  /** Removes every message below `seq` (those a snapshot holds); resolves with how many. */
  async trimBelow(seq: number): Promise<number> {
    try {
      const r = await this.jsm.streams.purge(this.opts.stream, { seq });
      return r.purged;
    } catch (err) {
      throw describe(err, `trimming stream ${this.opts.stream}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.nc.close().catch(() => {});
  }
}

/** Why a stream's leader cannot commit writes now, from its own view of its peers, or null. */
function quorumProblem(si: StreamInfo): string | null {
  const c = si.cluster;
  if (!c || si.config.num_replicas <= 1) return null;
  if (!c.leader) return `stream ${si.config.name} has no leader`;
  // A leader cut off from its followers keeps calling them current for a while; one not heard
  // from within a few raft heartbeats is not.
  const current = 1 + (c.replicas ?? []).filter((p) => p.current && !p.offline && p.active < PEER_SILENT_NS).length;
  const need = Math.floor(si.config.num_replicas / 2) + 1;
  return current >= need ? null : `stream ${si.config.name} has ${current} of ${si.config.num_replicas} replicas current (a quorum needs ${need})`;
}

/** The client's error with what was being done, in words an operator can act on. */
function describe(err: unknown, doing: string): Error {
  const e = err as Error;
  const name = e?.name ?? "";
  let cause = e?.message ?? String(err);
  if (name === "TimeoutError" || /timeout/i.test(cause)) cause = "JetStream did not answer in time (no quorum, or no leader elected yet)";
  else if (name === "JetStreamNotEnabled" || name === "NoRespondersError" || /no responders|not enabled/i.test(cause))
    cause = "no JetStream server answered (no stream leader: a node lost, an election under way, or no quorum)";
  else if (/maximum bytes|maximum messages/i.test(cause)) cause = `the stream is full (${cause}); publish a snapshot so that it can be trimmed`;
  return new Error(`${doing}: ${cause}`, { cause: err });
}
