import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { encode, decode, messageType } from "../../src/wire/proto.ts";
import { post, startServer, type Running } from "../helpers.ts";
import { call, grpcClient } from "./client.ts";

const require = createRequire(import.meta.url);
const healthPkg = grpc.loadPackageDefinition(protoLoader.loadSync(require.resolve("grpc-health-check/proto/health/v1/health.proto"), { enums: String })) as any;

describe("gRPC newsrec.v1.Recommender (real server and client)", () => {
  let s: Running;
  let client: any;
  let ids: string[];
  before(async () => {
    s = await startServer({ demoNews: 2000, adminToken: "tok", exactMaxItems: 0 });
    client = grpcClient(s.grpcAddress);
    ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
  });
  after(async () => {
    client.close();
    await s.close();
  });

  test("Rank gives the same ids and scores as HTTP, in rerank and retrieve", async () => {
    for (const body of [
      { userId: "p1", history: ids.slice(0, 12), candidates: ids.slice(100, 140), k: 40 },
      { userId: "p2", history: ids.slice(20, 30), k: 25, filter: { categories: ["sports", "music", "tv"] } },
      { history: ids.slice(50, 60), k: 10, explain: true },
    ]) {
      const h = await post(`${s.url}/rank`, body);
      const g = await call<any>(client, "Rank", body);
      assert.equal(h.status, 200);
      assert.equal(g.mode, h.body.mode);
      assert.deepEqual(
        g.items.map((i: any) => i.newsId),
        h.body.items.map((i: any) => i.newsId),
      );
      g.items.forEach((it: any, i: number) => assert.ok(Math.abs(it.score - h.body.items[i].score) < 1e-9));
      if (body.explain)
        assert.deepEqual(
          g.explanation.map((e: any) => e.newsId),
          h.body.explanation.map((e: any) => e.newsId),
        );
    }
  });

  test("INVALID_ARGUMENT names the field", async () => {
    await assert.rejects(
      call(client, "Rank", { history: [], k: 5000 }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^k: /.test(e.details),
    );
    await assert.rejects(
      call(client, "Rank", { history: ["ok", ""] }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^history\/1: /.test(e.details),
    );
    await assert.rejects(call(client, "GetNews", {}), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^id: /.test(e.details));
  });

  test("NOT_FOUND, UNAUTHENTICATED, and writes with the token", async () => {
    await assert.rejects(call(client, "GetNews", { id: "nope" }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(
      call(client, "UpsertNews", { items: [{ id: "G1", title: "Storm warning for the coast" }] }),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED,
    );
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer tok");
    assert.deepEqual(await call(client, "UpsertNews", { items: [{ id: "G1", title: "Storm warning for the coast", category: "weather" }] }, { metadata: md }), {
      upserted: 1,
    });
    assert.equal((await call<any>(client, "GetNews", { id: "G1" })).title, "Storm warning for the coast");
    assert.deepEqual(await call(client, "DeleteNews", { id: "G1" }, { metadata: md }), { deleted: "G1" });
    await assert.rejects(call(client, "DeleteNews", { id: "G1" }, { metadata: md }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  });

  test("a truncated protobuf message is INVALID_ARGUMENT, not a crash", async () => {
    const Raw = grpc.makeGenericClientConstructor(
      {
        Rank: {
          path: "/newsrec.v1.Recommender/Rank",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      "Raw",
    );
    const raw = new Raw(s.grpcAddress, grpc.credentials.createInsecure()) as any;
    const full = Buffer.from(encode(messageType("RankRequest"), { history: ["N1", "N2"], k: 3 }));
    await assert.rejects(
      new Promise((res, rej) => raw.Rank(full.subarray(0, full.length - 3), (e: Error | null, v: unknown) => (e ? rej(e) : res(v)))),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
    raw.close();
  });

  test("an expired deadline is DEADLINE_EXCEEDED", async () => {
    await assert.rejects(
      call(client, "Rank", { history: ids.slice(0, 5) }, { deadline: new Date(Date.now() - 1) }),
      (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
    );
  });

  test("overload is RESOURCE_EXHAUSTED and not ready is UNAVAILABLE", async () => {
    const limit = s.app.admission.limit;
    s.app.admission.limit = 0;
    try {
      await assert.rejects(
        call(client, "Rank", { history: ids.slice(0, 3) }),
        (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && e.metadata.get("retry-after")[0] === "1",
      );
    } finally {
      s.app.admission.limit = limit;
    }
    s.app.ready = false;
    try {
      await assert.rejects(call(client, "Rank", { history: [] }), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    } finally {
      s.app.ready = true;
    }
  });

  test("grpc.health.v1.Health says SERVING when ready and NOT_SERVING when not", async () => {
    const health = new healthPkg.grpc.health.v1.Health(s.grpcAddress, grpc.credentials.createInsecure());
    const check = (service: string) => new Promise<any>((res, rej) => health.Check({ service }, (e: Error | null, v: any) => (e ? rej(e) : res(v))));
    assert.equal((await check("")).status, "SERVING");
    assert.equal((await check("newsrec.v1.Recommender")).status, "SERVING");
    s.grpc.setServing(false);
    assert.equal((await check("newsrec.v1.Recommender")).status, "NOT_SERVING");
    s.grpc.setServing(true);
    health.close();
  });

  test("server reflection lists the service and serves its descriptor (what grpcurl uses)", async () => {
    for (const version of ["v1", "v1alpha"]) {
      const def = protoLoader.loadSync(require.resolve(`@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`), { keepCase: false });
      const refl = (grpc.loadPackageDefinition(def) as any).grpc.reflection[version];
      const client = new refl.ServerReflection(s.grpcAddress, grpc.credentials.createInsecure());
      const stream = client.ServerReflectionInfo();
      const replies: any[] = [];
      const done = new Promise<void>((res, rej) => {
        stream.on("data", (d: any) => {
          replies.push(d);
          if (replies.length === 2) stream.end();
        });
        stream.on("end", () => res());
        stream.on("error", rej);
      });
      stream.write({ listServices: "" });
      stream.write({ fileContainingSymbol: "newsrec.v1.Recommender" });
      await done;
      client.close();
      const services = replies[0].listServicesResponse.service.map((x: any) => x.name);
      assert.ok(services.includes("newsrec.v1.Recommender"), `${version}: ${services}`);
      assert.ok(services.includes("grpc.health.v1.Health"), `${version}: ${services}`);
      assert.ok(replies[1].fileDescriptorResponse.fileDescriptorProto.length >= 1, version);
    }
  });

  test("POST /rank accepts and returns application/x-protobuf with the same answer as JSON", async () => {
    const body = { userId: "pb", history: ids.slice(0, 8), candidates: ids.slice(200, 220), k: 20 };
    const res = await fetch(`${s.url}/rank`, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf", accept: "application/x-protobuf" },
      body: Buffer.from(encode(messageType("RankRequest"), body)),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-protobuf");
    const pb = decode(messageType("RankResponse"), new Uint8Array(await res.arrayBuffer())) as any;
    const js = await post(`${s.url}/rank`, body);
    assert.deepEqual(
      pb.items.map((i: any) => i.newsId),
      js.body.items.map((i: any) => i.newsId),
    );
    const bad = await fetch(`${s.url}/rank`, { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: Buffer.from([0x0a, 0x05, 0x41]) });
    assert.equal(bad.status, 400);
  });
});
