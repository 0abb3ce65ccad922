/**
 * Clients that go away at any moment, and clients that send slowly: admission slots are given
 * back exactly once whatever happens, and slow senders hold connections (closed by the
 * server's timeouts), never the slots that ranks need.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { post, startServer, type Running } from "../helpers.ts";
import { grpcClient } from "../grpc/client.ts";

/** A gauge's value from a real scrape of /metrics. */
async function gauge(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exported`);
  return Number(line.split(" ")[1]);
}

async function until(what: string, check: () => Promise<boolean>, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`still not ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A raw connection, reading (and dropping) what the server sends, so that its close is seen. */
function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once("error", reject);
    s.resume();
  });
}

const rankRequest = (body: string) =>
  `POST /rank HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe("abandoned and slow requests", () => {
  let s: Running;
  let ids: string[];
  before(async () => {
    // A held encoder (batches wait up to 50 ms) makes every cache miss last long enough to be abandoned.
    s = await startServer({ demoNews: 300, maxInFlight: 64, maxWaitMs: 50, maxBatch: 1000, bodyTimeoutMs: 1000, headersTimeoutMs: 1000 });
    ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
  });
  after(() => s.close());

  test("thousands of requests abandoned at random points leave no slot taken", { timeout: 180_000 }, async () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const kinds = ["mid-headers", "mid-body", "after-body", "mid-response"] as const;
    const counts: Record<string, number> = {};
    const one = async (n: number) => {
      const kind = kinds[Math.floor(rnd() * kinds.length)]!;
      counts[kind] = (counts[kind] ?? 0) + 1;
      const body = JSON.stringify({ userId: `gone-${n}`, history: [ids[n % ids.length], ids[(n * 7) % ids.length]] });
      const raw = rankRequest(body);
      const sock = await open(s.url);
      sock.on("error", () => {});
      const closed = new Promise((r) => sock.once("close", r));
      if (kind === "mid-headers") sock.write(raw.slice(0, 20 + Math.floor(rnd() * 30)));
      else if (kind === "mid-body") sock.write(raw.slice(0, raw.length - 1 - Math.floor(rnd() * 10)));
      else sock.write(raw);
      if (kind === "mid-response") await new Promise((r) => sock.once("data", r));
      // after-body: gone while the rank waits for its encoder batch.
      sock.destroy();
      await closed;
    };
    const total = 2000;
    for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => one(i + j)));
    for (const k of kinds) assert.ok((counts[k] ?? 0) > 100, `${k} was exercised`);
    await until("all slots given back", async () => (await gauge(s.url, 'newsrec_in_flight_requests{transport="http"}')) === 0);
    assert.equal(s.app.admission.inFlight, 0);

    // gRPC calls cancelled by their clients at random moments.
    const client = grpcClient(s.grpcAddress);
    try {
      // The channel is up before any call is cancelled: on a busy machine its set-up alone can
      // outlast the random delays below, and calls cancelled before they reach the server are
      // never seen by it.
      await new Promise<void>((resolve, reject) => client.Rank({ history: [ids[0]] }, (e: Error | null) => (e ? reject(e) : resolve())));
      // Ten calls cancelled once the server holds every one of them (their cache misses wait for
      // the encoder batch): the server sees these cancellations whatever the machine's load.
      const held = Array.from({ length: 10 }, (_, n) => ({ call: null as unknown as { cancel(): void }, done: null as unknown as Promise<void>, n })).map(
        (h) => {
          h.done = new Promise<void>((resolve) => {
            h.call = client.Rank({ userId: `held-grpc-${h.n}`, history: [ids[(h.n * 3) % ids.length]] }, () => resolve());
          });
          return h;
        },
      );
      // Polled every millisecond: the calls are held for the encoder's batch wait (50 ms).
      const end = Date.now() + 30_000;
      while (s.app.admission.inFlight < 10) {
        if (Date.now() > end) assert.fail(`only ${s.app.admission.inFlight} of ten gRPC calls were ever held at once`);
        await new Promise((r) => setTimeout(r, 1));
      }
      for (const h of held) h.call.cancel();
      await Promise.all(held.map((h) => h.done));
      const calls = Array.from(
        { length: 300 },
        (_, n) =>
          new Promise<void>((resolve) => {
            const call = client.Rank({ userId: `gone-grpc-${n}`, history: [ids[n % ids.length]] }, (_err: Error | null) => resolve());
            setTimeout(() => call.cancel(), Math.floor(rnd() * 60));
          }),
      );
      await Promise.all(calls);
    } finally {
      client.close();
    }
    await until("all gRPC slots given back", async () => (await gauge(s.url, 'newsrec_in_flight_requests{transport="grpc"}')) === 0);
    // Calls their clients ended are counted as such, never as server errors.
    const exposition = await (await fetch(`${s.url}/metrics`)).text();
    assert.doesNotMatch(exposition, /newsrec_requests_total\{transport="grpc",method="Rank",status="INTERNAL"\}/);
    assert.match(exposition, /newsrec_requests_total\{transport="grpc",method="Rank",status="CANCELLED"\}/);

    // Normal service: every one of a full window of ranks is answered.
    const res = await Promise.all(Array.from({ length: 32 }, (_, n) => post(`${s.url}/rank`, { userId: `back-${n}`, history: [ids[n]] })));
    assert.deepEqual(
      res.map((r) => r.status),
      Array(32).fill(200),
    );
    const ready = await fetch(`${s.url}/readyz`);
    assert.equal(ready.status, 200);
  });

  test("a gRPC call answered normally never has its work aborted", async () => {
    const seen: AbortSignal[] = [];
    const enter = s.app.admission.tryEnter.bind(s.app.admission);
    s.app.admission.tryEnter = (t) => {
      const ticket = enter(t);
      if (ticket) seen.push(ticket.signal);
      return ticket;
    };
    const client = grpcClient(s.grpcAddress);
    try {
      await new Promise<void>((resolve, reject) => client.Rank({ history: [ids[1]] }, (e: Error | null) => (e ? reject(e) : resolve())));
      // grpc-js reports "cancelled" after sending any status; the server must not take it for a client gone.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.aborted, false);
    } finally {
      s.app.admission.tryEnter = enter;
      client.close();
    }
  });

  test("slow senders hold no admission slot, and the server closes them", { timeout: 60_000 }, async () => {
    const slow: Socket[] = [];
    const closed: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      const sock = await open(s.url);
      sock.on("error", () => {});
      closed.push(new Promise((r) => sock.once("close", r)));
      // Headers and one byte of a 100-byte body; the rest never comes.
      sock.write(`POST /rank HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`);
      slow.push(sock);
    }
    for (let i = 0; i < 20; i++) {
      const sock = await open(s.url);
      sock.on("error", () => {});
      closed.push(new Promise((r) => sock.once("close", r)));
      sock.write("POST /rank HTTP/1.1\r\nHost: x\r\n");
      slow.push(sock);
    }
    const res = await Promise.all(Array.from({ length: 32 }, (_, n) => post(`${s.url}/rank`, { userId: `busy-${n}`, history: [ids[n + 40]] })));
    assert.deepEqual(
      res.map((r) => r.status),
      Array(32).fill(200),
      "ranks are served while slow clients are connected",
    );
    // bodyTimeoutMs / headersTimeoutMs (1 s here) end every slow connection.
    await Promise.all(closed);
    assert.equal(s.app.admission.inFlight, 0);
  });
});

describe("pipelined requests", () => {
  let s: Running;
  let ids: string[];
  before(async () => {
    // Cache misses wait up to a second for their batch: long enough to cut the connection under them.
    s = await startServer({ demoNews: 300, maxWaitMs: 1000, maxBatch: 1000 });
    ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
  });
  after(() => s.close());

  test("pipelined requests cut off while the first is in progress give back every slot", { timeout: 90_000 }, async () => {
    for (let round = 0; round < 20; round++) {
      const sock = await open(s.url);
      sock.on("error", () => {});
      const closed = new Promise((r) => sock.once("close", r));
      const body = (n: number) => JSON.stringify({ userId: `pipe-${round}-${n}`, history: [ids[round], ids[round + n + 1]] });
      // Two requests in one write: the second's response waits behind the first's.
      sock.write(rankRequest(body(0)) + rankRequest(body(1)));
      await until("both pipelined requests admitted", async () => s.app.admission.inFlight >= 2);
      sock.destroy();
      await closed;
    }
    await until("all slots given back", async () => s.app.admission.inFlight === 0);
    const after = await Promise.all(Array.from({ length: 32 }, (_, n) => post(`${s.url}/rank`, { userId: `after-pipe-${n}`, history: [ids[n]] })));
    assert.deepEqual(
      after.map((r) => r.status),
      Array(32).fill(200),
    );
  });
});

describe("connection cap", () => {
  let s: Running;
  before(async () => {
    s = await startServer({ demoNews: 50, maxConnections: 20 });
  });
  after(() => s.close());

  test("past maxConnections, new connections are closed at once and the held ones still work", { timeout: 60_000 }, async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => open(s.url)));
    const extra = await open(s.url);
    extra.on("error", () => {});
    await new Promise((r) => extra.once("close", r));
    const first = held[0]!;
    const answer = new Promise<string>((r) => first.once("data", (b) => r(b.toString())));
    first.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(await answer, /^HTTP\/1.1 200/);
    for (const h of held) h.destroy();
  });
});
