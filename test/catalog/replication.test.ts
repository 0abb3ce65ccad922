/**
 * Replicas that share one catalog through NATS JetStream, all real: a three-node cluster of
 * Debian's nats-server on loopback ports and newsrec server processes with --catalog-log.
 * Writes through any replica are served by all; a replica killed with SIGKILL catches up on
 * restart; with one NATS node down writes go on and no acknowledged write is lost; with two
 * down writes fail with 503 naming the cause while reads go on; a replica started later on
 * an empty data dir converges. Every wait is on a condition the servers report, never a sleep.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NATS_SKIP, startNatsCluster, type NatsCluster } from "../nats-cluster.ts";
import { cli, serveOnce, startServer, type ServerProcess } from "../server-process.ts";

const STREAM = "newsrec-test-catalog";

interface Replica {
  dir: string;
  s: ServerProcess;
}

async function readyz(url: string): Promise<any> {
  return (await fetch(`${url}/readyz`)).json();
}

async function put(url: string, ids: string[]): Promise<{ status: number; body: any }> {
  const items = ids.map((id) => ({ id, title: `Storm forecast for the coast ${id}`, category: "weather" }));
  const res = await fetch(`${url}/news`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ items }) });
  return { status: res.status, body: await res.json() };
}

const statusOf = async (url: string, id: string) => (await fetch(`${url}/news/${id}`)).status;

describe("replicas over a NATS JetStream catalog log", { skip: NATS_SKIP, timeout: 600_000 }, () => {
  let nats: NatsCluster;
  const replicas: Replica[] = [];
  const dirs: string[] = [];
  /** Writes acknowledged while a NATS node was down. */
  const ackedNodeDown: string[] = [];

  /** The shared snapshot (the embed job's), which every replica starts from. */
  let shared: string;
  const start = async (dir: string): Promise<ServerProcess> =>
    startServer(dir, ["--catalog-log", nats.urls, "--catalog-stream", STREAM, "--snapshot", shared, "--compact-interval-seconds", "1"]);

  /** The stream's last sequence, asked of JetStream directly (again while an election leaves it without an answer). */
  const lastSeq = async (): Promise<number> => {
    const nc = await connect({ servers: nats.urls.split(",") });
    try {
      for (;;) {
        try {
          return (await (await jetstreamManager(nc)).streams.info(STREAM)).state.last_seq;
        } catch (err) {
          if ((err as Error).name !== "TimeoutError") throw err;
        }
      }
    } finally {
      await nc.close();
    }
  };

  /** Resolves once every replica has applied the stream up to `seq`. */
  const converged = async (seq: number, urls = replicas.map((r) => r.s.url)) => {
    for (const url of urls) while ((await readyz(url)).catalogLog.appliedSequence < seq);
  };

  before(async () => {
    const work = mkdtempSync(join(tmpdir(), "nats-issue15-shared-"));
    dirs.push(work);
    const news = Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: `S${i}`, title: `Harbour storm warning ${i}`, category: "weather" }));
    writeFileSync(join(work, "news.jsonl"), `${news.join("\n")}\n`);
    shared = join(work, "snapshot");
    const embed = cli("embed", "--news", join(work, "news.jsonl"), "--out", shared);
    assert.equal(embed.status, 0, embed.stderr);
    nats = await startNatsCluster(3);
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), "nats-issue15-replica-"));
      dirs.push(dir);
      replicas.push({ dir, s: await start(dir) });
    }
  });

  after(async () => {
    for (const r of replicas) await r.s.kill9();
    await nats?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("a write through any replica is served by every replica", async () => {
    const body = await readyz(replicas[0]!.s.url);
    assert.equal(body.ready, true);
    assert.equal(body.catalogLog.stream, STREAM);
    assert.equal(body.catalogLog.writable, true);
    for (const [i, r] of replicas.entries()) {
      const res = await put(r.s.url, [`R${i}a`, `R${i}b`]);
      assert.deepEqual(res, { status: 200, body: { upserted: 2 } });
      // Read-your-writes on the replica that took it: answered only once applied there.
      assert.equal(await statusOf(r.s.url, `R${i}a`), 200);
    }
    await converged(await lastSeq());
    for (const r of replicas) for (let i = 0; i < 3; i++) assert.equal(await statusOf(r.s.url, `R${i}b`), 200);
    // A delete through one replica removes the item from all; a delete of an unknown item is 404.
    assert.equal((await fetch(`${replicas[1]!.s.url}/news/R0a`, { method: "DELETE" })).status, 200);
    assert.equal((await fetch(`${replicas[2]!.s.url}/news/R0a`, { method: "DELETE" })).status, 404);
    await converged(await lastSeq());
    for (const r of replicas) assert.equal(await statusOf(r.s.url, "R0a"), 404);
    // Every replica holds the same items and says so in its metrics.
    const seq = await lastSeq();
    for (const r of replicas) {
      const text = await (await fetch(`${r.s.url}/metrics`)).text();
      assert.match(text, new RegExp(`^newsrec_catalog_log_applied_sequence ${seq}$`, "m"));
      assert.match(text, /^newsrec_catalog_log_lag_messages 0$/m);
      assert.match(text, /^newsrec_catalog_read_only 0$/m);
      assert.equal((await readyz(r.s.url)).catalogItems, 60 + 5);
    }
  });

  test("a replica killed with SIGKILL while writes go on catches up when restarted", async () => {
    const victim = replicas[2]!;
    const acked: string[] = [];
    let n = 0;
    const writes = (async () => {
      while (acked.length < 40) {
        const id = `K${n++}`;
        if ((await put(replicas[n % 2]!.s.url, [id])).status === 200) acked.push(id);
        if (acked.length === 10) await victim.s.kill9();
      }
    })();
    await writes;
    victim.s = await start(victim.dir);
    // Ready only once it has applied everything the stream held when it started.
    assert.equal((await readyz(victim.s.url)).ready, true);
    for (const id of acked) assert.equal(await statusOf(victim.s.url, id), 200, id);
    assert.match(victim.s.log(), /starting from data dir snapshot/);
  });

  test("with one NATS node down writes go on and no acknowledged write is lost", async () => {
    await nats.kill9(0);
    const acked: string[] = [];
    const refused: string[] = [];
    let n = 0;
    // Until the stream has a leader again writes may be refused (503, naming the cause); then they are taken.
    while (acked.length < 30) {
      const id = `N${n++}`;
      const res = await put(replicas[n % 3]!.s.url, [id]);
      if (res.status === 200) acked.push(id);
      else {
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.error.code, "UNAVAILABLE");
        refused.push(res.body.error.message);
        // Paced by the replica: until it reports the catalog writable again.
        while (!(await readyz(replicas[n % 3]!.s.url)).catalogLog.writable);
      }
    }
    await converged(await lastSeq());
    for (const r of replicas) for (const id of acked) assert.equal(await statusOf(r.s.url, id), 200, `${id} on ${r.s.url}`);
    ackedNodeDown.push(...acked);
    // Refused while the stream had no leader, or stored but not yet applied by a replica whose consumer was on the lost node.
    for (const msg of refused) assert.match(msg, /catalog is read-only|JetStream|NATS|stored in the catalog log/);
  });

  test("with two NATS nodes down writes fail with 503 naming the cause, and reads go on", async () => {
    await nats.kill9(1);
    const url = replicas[0]!.s.url;
    // The probe finds the stream without quorum within a second or so; from then on every write is refused at once.
    let res: { status: number; body: any };
    do res = await put(url, ["Q1"]);
    while (res.status === 200);
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, "UNAVAILABLE");
    assert.match(res.body.error.message, /write not saved/);
    let body: any;
    do body = await readyz(url);
    while (body.catalogLog.writable);
    assert.equal(body.ready, true, "a read-only replica still serves reads");
    assert.match(body.catalogLog.readOnlyReason, /quorum|leader|JetStream|NATS/);
    const again = await put(url, ["Q2"]);
    assert.equal(again.status, 503);
    assert.match(again.body.error.message, /the catalog is read-only: .*\(reads go on\)/);
    assert.equal((await fetch(`${url}/news/Q2`, { method: "DELETE" })).status, 503);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^newsrec_catalog_read_only 1$/m);
    // Reads: items and ranks from the local catalog.
    assert.equal(await statusOf(url, "R1a"), 200);
    const rank = await fetch(`${url}/rank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ history: ["R1a"], k: 3 }),
    });
    assert.equal(rank.status, 200);
    assert.equal(((await rank.json()) as { items: unknown[] }).items.length, 3);
    // The nodes come back: writes resume by themselves.
    await nats.restart(0);
    await nats.restart(1);
    while ((await put(url, ["Q3"])).status !== 200);
    await converged(await lastSeq());
    for (const r of replicas) assert.equal(await statusOf(r.s.url, "Q3"), 200);
  });

  test("a replica started later on an empty data dir converges", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nats-issue15-late-"));
    dirs.push(dir);
    const late = { dir, s: await start(dir) };
    replicas.push(late);
    assert.match(late.s.log(), /starting from shared snapshot .* at sequence 0/);
    const items = (await readyz(replicas[0]!.s.url)).catalogItems;
    assert.equal((await readyz(late.s.url)).catalogItems, items);
    for (const id of ["R0b", "K0", ackedNodeDown[0]!, "Q3"]) assert.equal(await statusOf(late.s.url, id), 200, id);
    assert.equal(await statusOf(late.s.url, "R0a"), 404, "deleted before it started");
    // And it takes writes that every other replica then serves.
    assert.equal((await put(late.s.url, ["L1"])).status, 200);
    await converged(await lastSeq());
    for (const r of replicas) assert.equal(await statusOf(r.s.url, "L1"), 200);
  });

  test("the embed job publishes its news and its snapshot with the sequence; the stream is trimmed below the base; a new replica starts from it", async () => {
    const work = dirs[0]!;
    const embed = (name: string, base: string, count: number) => {
      const news = Array.from({ length: count }, (_, i) =>
        JSON.stringify({ id: `${name}${i}`, title: `Ferry crossing cancelled ${name} ${i}`, category: "travel" }),
      );
      writeFileSync(join(work, `${name}.jsonl`), `${news.join("\n")}\n`);
      const r = cli(
        "embed",
        "--news",
        join(work, `${name}.jsonl`),
        "--out",
        join(work, name),
        "--base",
        base,
        "--catalog-log",
        nats.urls,
        "--catalog-stream",
        STREAM,
      );
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split("\n").pop()!);
    };
    const first = embed("E", shared, 30);
    assert.equal(first.baseSequence, 0, "the shared snapshot records no sequence: the stream's start");
    assert.equal(first.trimmed, 0);
    assert.equal(first.sequence, await lastSeq());
    // Every running replica applied the embedded news from the stream, vectors included.
    await converged(first.sequence);
    for (const r of replicas) assert.equal(await statusOf(r.s.url, "E29"), 200);
    const items = (await readyz(replicas[0]!.s.url)).catalogItems;

    const second = embed("F", join(work, "E"), 20);
    assert.equal(second.baseSequence, first.sequence);
    assert.ok(second.trimmed > 0, "the messages the first snapshot holds were trimmed");
    const nc = await connect({ servers: nats.urls.split(",") });
    const state = (await (await jetstreamManager(nc)).streams.info(STREAM)).state;
    await nc.close();
    assert.equal(state.first_seq, first.sequence + 1, "the stream keeps what the base snapshot (E) still needs");

    // A new replica with an empty data dir starts from the newest snapshot and converges.
    const dir = mkdtempSync(join(tmpdir(), "nats-issue15-joiner-"));
    dirs.push(dir);
    shared = join(work, "F");
    const joiner = { dir, s: await start(dir) };
    replicas.push(joiner);
    assert.match(joiner.s.log(), new RegExp(`starting from shared snapshot .*F at sequence ${second.sequence}`));
    await converged(await lastSeq());
    assert.equal((await readyz(joiner.s.url)).catalogItems, items + 20);
    for (const id of ["S0", "E0", "F19", "L1"]) assert.equal(await statusOf(joiner.s.url, id), 200, id);

    // The first shared snapshot records no sequence, and the stream no longer starts at its first message: refused, naming why.
    const refused = await serveOnce(mkdtempSync(join(tmpdir(), "nats-issue15-stale-")), [
      "--catalog-log",
      nats.urls,
      "--catalog-stream",
      STREAM,
      "--snapshot",
      join(work, "snapshot"),
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /no longer starts at its first message/);
    assert.match(refused.stderr, /earlier messages were trimmed into snapshots/);
  });
});
