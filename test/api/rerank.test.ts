/**
 * Rerank scores every known candidate of the impression: without k the whole impression comes
 * back sorted (a frontend reranks what it will show, not its top 10), k only caps and never pads.
 * Over HTTP JSON, HTTP protobuf and gRPC, where proto3's absent k must read as "not given".
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, messageType } from "../../src/wire/proto.ts";
import { post, startServer, type Running } from "../helpers.ts";
import { call, grpcClient } from "../grpc/client.ts";

describe("rerank returns every known candidate unless k is given", () => {
  let s: Running;
  let client: any;
  let ids: string[];
  before(async () => {
    s = await startServer({ demoNews: 300 });
    client = grpcClient(s.grpcAddress);
    ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
  });
  after(async () => {
    client.close();
    await s.close();
  });

  const newsIds = (a: { items?: { newsId: string }[] }) => (a.items ?? []).map((i) => i.newsId);

  async function overAll(body: Record<string, unknown>): Promise<{ newsId: string; score: number }[][]> {
    const json = await post(`${s.url}/rank`, body);
    assert.equal(json.status, 200, JSON.stringify(json.body));
    const res = await fetch(`${s.url}/rank`, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf", accept: "application/x-protobuf" },
      body: Buffer.from(encode(messageType("RankRequest"), body)),
    });
    assert.equal(res.status, 200);
    const pb = decode(messageType("RankResponse"), new Uint8Array(await res.arrayBuffer())) as any;
    const g = await call<any>(client, "Rank", body);
    return [json.body.items, pb.items, g.items];
  }

  test("without k: all 30 known candidates, sorted by score, the unknown ones listed", async () => {
    const candidates = [...ids.slice(100, 130), "unknown-a", "unknown-b"];
    for (const items of await overAll({ history: ids.slice(0, 5), candidates })) {
      assert.deepEqual(new Set(newsIds({ items })), new Set(candidates.slice(0, 30)));
      const scores = items.map((i) => i.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
    }
    const r = await post(`${s.url}/rank`, { history: ids.slice(0, 5), candidates });
    assert.deepEqual(r.body.unknownCandidates, ["unknown-a", "unknown-b"]);
  });

  test("cold start without k: every candidate, newest first", async () => {
    for (const items of await overAll({ history: ["unknown-history"], candidates: ids.slice(0, 25) })) assert.equal(items.length, 25);
  });

  test("k caps the answer and never pads it", async () => {
    const candidates = ids.slice(200, 230);
    const all = await overAll({ history: ids.slice(0, 5), candidates });
    for (const items of await overAll({ history: ids.slice(0, 5), candidates, k: 7 }))
      assert.deepEqual(newsIds({ items }), newsIds({ items: all[0]! }).slice(0, 7));
    for (const items of await overAll({ history: ids.slice(0, 5), candidates: candidates.slice(0, 4), k: 50 })) assert.equal(items.length, 4);
  });

  test("retrieve without k still answers the default 10", async () => {
    for (const items of await overAll({ history: ids.slice(0, 5) })) assert.equal(items.length, 10);
  });
});
