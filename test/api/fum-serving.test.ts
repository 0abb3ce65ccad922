/**
 * A FUM bundle served end to end by a real server process: the golden news upserted over HTTP,
 * each golden user ranked over HTTP and gRPC with the same ids and scores, and those scores the
 * dot products of PyTorch's user and news vectors (so the token ids the catalog computed and fed
 * are the trainer's); then the catalog survives a SIGKILL (the write-ahead log's token ids
 * replayed) and a graceful restart (the compacted snapshot's tokens.bin) with the same scores. A
 * bundle that reads no token ids logs and snapshots none.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scanWal } from "../../src/catalog/wal-format.ts";
import { call, grpcClient } from "../grpc/client.ts";
import { DEFAULT_BUNDLE, dot, FUM_BUNDLE, post } from "../helpers.ts";
import { putNews, startServer, type ServerProcess } from "../server-process.ts";

interface Golden {
  news: { id: string; title: string; abstract: string; category: string; subcategory: string; vector: number[] }[];
  users: { id: string; history: string[]; vector: number[]; attention: number[]; tokenIds: number[][] }[];
}

const golden = JSON.parse(readFileSync(join(FUM_BUNDLE, "golden.json"), "utf8")) as Golden;
const newsIds = golden.news.map((n) => n.id);
/** The golden parity tolerance, on scores (measured: about 1e-7). */
const SCORE_TOL = 1e-4;

async function stop(s: ServerProcess): Promise<void> {
  s.proc.kill("SIGTERM");
  assert.equal(await s.exited, 0, s.log());
}

function currentSnapshot(dataDir: string): string {
  return join(dataDir, readFileSync(join(dataDir, "CURRENT"), "utf8").trim());
}

function walItems(dataDir: string): Record<string, unknown>[] {
  const path = join(dataDir, "wal.log");
  if (!existsSync(path)) return [];
  return scanWal(readFileSync(path)).records.flatMap((r) => (r.record.op === "upsert" ? r.record.items : []));
}

describe("a FUM bundle served by a real process", { timeout: 180_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "newsrec-fum-"));
  let s: ServerProcess;
  let client: any;
  const start = async () => {
    s = await startServer(dataDir, ["--model", FUM_BUNDLE, "--demo-news", "300"]);
    client = grpcClient((await s.waitFor(/gRPC on (\S+?);/))[1]!);
  };
  /** Every golden user's rerank of the golden news over HTTP, checked against gRPC; newsId → score per user. */
  const rankAll = async (): Promise<Map<string, number>[]> => {
    const out: Map<string, number>[] = [];
    for (const u of golden.users) {
      const body = { userId: u.id, history: u.history, candidates: newsIds, explain: true };
      const h = await post(`${s.url}/rank`, body);
      assert.equal(h.status, 200, JSON.stringify(h.body));
      const g = await call<any>(client, "Rank", body);
      assert.equal(h.body.mode, "rerank");
      assert.equal(h.body.items.length, newsIds.length);
      assert.deepEqual(
        g.items.map((i: any) => i.newsId),
        h.body.items.map((i: any) => i.newsId),
      );
      g.items.forEach((it: any, i: number) => assert.ok(Math.abs(it.score - h.body.items[i].score) < 1e-9, `${u.id}: gRPC and HTTP scores`));
      out.push(new Map(h.body.items.map((i: any) => [i.newsId, i.score])));
      // FUM's explanation is its coarse part's attention over the history, as PyTorch computed it.
      const weights = h.body.explanation.map((e: any) => e.weight);
      assert.equal(weights.length, u.attention.length);
      weights.forEach((w: number, i: number) => assert.ok(Math.abs(w - u.attention[i]!) <= 1e-4, `${u.id} attention ${i}`));
    }
    return out;
  };
  let first: Map<string, number>[];

  before(start);
  after(async () => {
    client?.close();
    if (s && s.proc.exitCode === null) await s.kill9();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("ranks over HTTP and gRPC with the same scores: PyTorch's user vectors, token ids included, dotted with its news vectors", async () => {
    const put = await putNews(
      s.url,
      golden.news.map(({ id, title, abstract, category, subcategory }) => ({ id, title, abstract, category, subcategory })) as any,
    );
    assert.equal(put.status, 200, JSON.stringify(put.body));
    first = await rankAll();
    const vec = new Map(golden.news.map((n) => [n.id, n.vector]));
    golden.users.forEach((u, i) => {
      for (const [id, score] of first[i]!) {
        const want = dot(u.vector, vec.get(id)!);
        assert.ok(Math.abs(score - want) <= SCORE_TOL, `${u.id} × ${id}: served ${score}, PyTorch ${want}`);
      }
    });
    // A retrieve over the whole catalog (demo news included), through both transports.
    const body = { userId: "retriever", history: golden.users[2]!.history, k: 25 };
    const h = await post(`${s.url}/rank`, body);
    const g = await call<any>(client, "Rank", body);
    assert.equal(h.body.mode, "retrieve");
    assert.equal(h.body.items.length, 25);
    assert.deepEqual(
      g.items.map((i: any) => [i.newsId, i.score]),
      h.body.items.map((i: any) => [i.newsId, i.score]),
    );
  });

  test("the write-ahead log keeps each upserted item's token ids, and a SIGKILLed server replays them", async () => {
    const items = walItems(dataDir);
    assert.equal(items.length, golden.news.length);
    for (const it of items) {
      const t = it.tokens as number[];
      assert.ok(Array.isArray(t) && t.length >= 1 && t.length <= 16, JSON.stringify(it));
    }
    client.close();
    await s.kill9();
    await start();
    await s.waitFor(/write-ahead log: replayed 1 writes/);
    assert.deepEqual(await rankAll(), first);
  });

  test("a graceful stop compacts the token ids into tokens.bin, and the restart serves the same scores", async () => {
    client.close();
    await stop(s);
    const snap = currentSnapshot(dataDir);
    const manifest = JSON.parse(readFileSync(join(snap, "manifest.json"), "utf8"));
    assert.deepEqual(manifest.tokens, { width: 16, bytesPerId: 2 });
    assert.equal(manifest.files["tokens.bin"], manifest.slots * 17 * 2);
    assert.equal(walItems(dataDir).length, 0, "the log was emptied by the compaction");
    await start();
    assert.deepEqual(await rankAll(), first);
  });
});

test("a bundle whose user encoder reads no token ids logs and snapshots none", { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "newsrec-notokens-"));
  let s: ServerProcess | undefined;
  try {
    s = await startServer(dataDir, ["--model", DEFAULT_BUNDLE, "--demo-news", "100"]);
    const put = await putNews(s.url, [
      { id: "A1", title: "Storm warning for the coast", category: "weather" },
      { id: "A2", title: "Team wins the final", category: "sports" },
    ]);
    assert.equal(put.status, 200);
    const items = walItems(dataDir);
    assert.equal(items.length, 2);
    for (const it of items) assert.deepEqual(Object.keys(it).sort(), ["meta", "vector"]);
    await stop(s);
    const snap = currentSnapshot(dataDir);
    assert.ok(!existsSync(join(snap, "tokens.bin")));
    const manifest = JSON.parse(readFileSync(join(snap, "manifest.json"), "utf8"));
    assert.equal(manifest.tokens, undefined);
    assert.deepEqual(Object.keys(manifest.files).sort(), ["index.hnsw", "items.jsonl", "vectors.f32"]);
  } finally {
    if (s && s.proc.exitCode === null) await s.kill9();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
