/**
 * Property-based fuzzing of /rank, PUT /news and the gRPC messages: generated malformed
 * inputs (wrong types, huge arrays and strings, invalid UTF-8, prototype-pollution keys,
 * truncated JSON and protobuf) get a 4xx or INVALID_ARGUMENT, never a 5xx, a crash or a hang.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { encode, messageType } from "../../src/wire/proto.ts";
import { startServer, type Running } from "../helpers.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

const pollution = fc.constantFrom(
  '{"__proto__":{"polluted":1},"history":[]}',
  '{"constructor":{"prototype":{"polluted":1}},"history":[]}',
  '{"history":[],"filter":{"__proto__":{"x":1}}}',
);
const jsonish = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({ history: fc.anything(), k: fc.anything(), candidates: fc.anything(), filter: fc.anything(), explain: fc.anything() }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
  fc.record({ history: fc.array(fc.string({ maxLength: 300 }), { maxLength: 1500 }), k: fc.integer() }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 5000 }).map((s) => JSON.stringify({ history: [s], userId: s })),
  fc.tuple(fc.jsonValue(), fc.nat()).map(([v, n]) => {
    const s = JSON.stringify({ history: ["N1"], extra: v });
    return s.slice(0, n % (s.length + 1));
  }),
  pollution,
);
const rawBytes = fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b));
const newsBody = fc.oneof(
  fc.record({ items: fc.anything() }).map((v) => JSON.stringify(v)),
  fc
    .array(fc.record({ id: fc.anything(), title: fc.anything(), publishedAt: fc.anything() }, { requiredKeys: [] }), { maxLength: 5 })
    .map((items) => JSON.stringify({ items })),
  jsonish,
);

describe("fuzzing malformed input", () => {
  let s: Running;
  let statuses: Map<number, number>;
  before(async () => {
    s = await startServer({ demoNews: 300, bodyLimitBytes: 64 * 1024 });
    statuses = new Map();
  });
  after(() => s.close());

  const inject = async (method: "POST" | "PUT", url: string, payload: string | Buffer, contentType: string) => {
    const r = await s.http.inject({ method, url, payload, headers: { "content-type": contentType } });
    statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    assert.ok(r.statusCode < 500, `${r.statusCode} for ${String(payload).slice(0, 200)}: ${r.body}`);
    if (r.statusCode >= 400) assert.ok(JSON.parse(r.body).error.code);
  };

  test(`POST /rank: ${RUNS} JSON-ish bodies, ${RUNS} raw byte bodies, ${RUNS} protobuf bodies`, async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, (body) => inject("POST", "/rank", body, "application/json")),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(rawBytes, (body) => inject("POST", "/rank", body, "application/json")),
      { numRuns: RUNS },
    );
    const valid = Buffer.from(
      encode(messageType("RankRequest"), { history: ["N1", "N2", "N3"], candidates: ["N4", "N5"], k: 2, filter: { categories: ["sports"] } }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          rawBytes,
          fc.nat(valid.length).map((n) => valid.subarray(0, n)),
        ),
        (body) => inject("POST", "/rank", body, "application/x-protobuf"),
      ),
      { numRuns: RUNS },
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype was polluted");
  });

  test(`PUT /news: ${RUNS} bodies`, async () => {
    await fc.assert(
      fc.asyncProperty(newsBody, (body) => inject("PUT", "/news", body, "application/json")),
      { numRuns: RUNS },
    );
  });

  test("gRPC: random and truncated messages to every method are INVALID_ARGUMENT or a valid answer", async () => {
    const methods = ["Rank", "UpsertNews", "DeleteNews", "GetNews"];
    const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    for (const m of methods)
      def[m] = {
        path: `/newsrec.v1.Recommender/${m}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b) => b,
        requestDeserialize: (b) => b,
        responseSerialize: (b) => b,
        responseDeserialize: (b) => b,
      };
    const Raw = grpc.makeGenericClientConstructor(def, "Raw");
    const client = new Raw(s.grpcAddress, grpc.credentials.createInsecure()) as any;
    const codes = new Map<number, number>();
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...methods), rawBytes, async (m, bytes) => {
          const code = await new Promise<number>((res) =>
            client[m](bytes, { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null) => res(e ? e.code : grpc.status.OK)),
          );
          codes.set(code, (codes.get(code) ?? 0) + 1);
          assert.ok([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND].includes(code), `status ${grpc.status[code]} for ${m}`);
        }),
        { numRuns: Math.max(500, Math.floor(RUNS / 2)) },
      );
    } finally {
      client.close();
    }
    assert.ok((codes.get(grpc.status.INVALID_ARGUMENT) ?? 0) > 0);
  });

  test("the server still answers after the fuzzing", async () => {
    const r = await s.http.inject({ method: "POST", url: "/rank", payload: { history: ["N1", "N2"] } });
    assert.equal(r.statusCode, 200);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= 4 * RUNS, `${total} HTTP inputs`);
    assert.ok((statuses.get(400) ?? 0) > RUNS, JSON.stringify([...statuses]));
  });
});
