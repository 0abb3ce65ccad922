/**
 * One table of requests, sent through both transports to one real server: each must get the same
 * outcome from HTTP and gRPC (statuses linked by the error catalogue), the same field at fault and
 * the same message. Rows a transport cannot express are sent only where they can be: JSON has
 * wrong types and unknown fields, protobuf has neither; proto3 cannot tell an empty list or an
 * empty string from an absent one.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { CATALOGUE, type ErrorCode } from "../../src/errors.ts";
import { startServer, type Running } from "../helpers.ts";
import { call, grpcClient } from "../grpc/client.ts";

type Method = "Rank" | "UpsertNews" | "GetNews" | "DeleteNews";
type Answer = Record<string, any>;

interface Row {
  name: string;
  method: Method;
  body: Record<string, unknown>;
  /** The refusal expected; none: accepted. */
  error?: { code: ErrorCode; field?: string; message?: string };
  /** Checks an accepted answer (the same check for both transports' answers). */
  check?: (a: Answer) => void;
  /** Sent only over this transport: the other cannot express the request. */
  only?: "http" | "grpc";
  /** The refusal comes from grpc-js itself (before any newsrec code), so its text is grpc-js's. */
  foreignGrpcMessage?: boolean;
}

const TOKEN = "contract-token";
const LIMITS = { maxHistory: 50, maxCandidates: 40, bodyLimitBytes: 64 * 1024 };
const ids = (n: number, prefix = "N") => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const item = (over: Record<string, unknown> = {}) => ({ id: "C1", title: "Storm warning for the coast", ...over });
const bad = (code: ErrorCode, field?: string, message?: string) => ({ code, ...(field ? { field } : {}), ...(message ? { message } : {}) });
const invalid = (field: string, message?: string) => bad("INVALID_ARGUMENT", field, message && `${field}: ${message}`);
const items = (n: number) => (a: Answer) => assert.equal(a.items.length, n);
const upserted = (n: number) => (a: Answer) => assert.equal(a.upserted, n);

const rows: Row[] = [
  // rank: k
  { name: "k absent", method: "Rank", body: { history: ["N1", "N2"] }, check: items(10) },
  { name: "k 0", method: "Rank", body: { history: ["N1"], k: 0 }, error: invalid("k", "must be >= 1") },
  { name: "k 1", method: "Rank", body: { history: ["N1"], k: 1 }, check: items(1) },
  { name: "k 1000", method: "Rank", body: { history: ["N1"], k: 1000 }, check: (a) => assert.ok(a.items.length > 10 && a.items.length <= 1000) },
  { name: "k 1001", method: "Rank", body: { history: ["N1"], k: 1001 }, error: invalid("k", "must be <= 1000") },
  { name: "k fractional", method: "Rank", body: { history: [], k: 2.5 }, error: invalid("k", "must be integer"), only: "http" },
  { name: "k a string", method: "Rank", body: { history: [], k: "3" }, error: invalid("k", "must be integer"), only: "http" },
  // rank: strings and arrays
  { name: "empty history", method: "Rank", body: { history: [] }, check: (a) => assert.equal(a.coldStart, true) },
  { name: "history absent", method: "Rank", body: {}, error: invalid("history", "is required"), only: "http" },
  { name: "empty history id", method: "Rank", body: { history: ["N1", ""] }, error: invalid("history/1", "must NOT have fewer than 1 characters") },
  { name: "history id too long", method: "Rank", body: { history: ["x".repeat(257)] }, error: invalid("history/0", "must NOT have more than 256 characters") },
  { name: "history over maxHistory", method: "Rank", body: { history: ids(51) }, error: invalid("history", "must NOT have more than 50 items") },
  { name: "history at maxHistory", method: "Rank", body: { history: ids(50) }, check: items(10) },
  { name: "history over the body limit", method: "Rank", body: { history: ids(20_000) }, error: bad("PAYLOAD_TOO_LARGE"), foreignGrpcMessage: true },
  { name: "empty userId", method: "Rank", body: { userId: "", history: [] }, error: invalid("userId", "must NOT have fewer than 1 characters") },
  {
    name: "empty candidates (absent in proto3: retrieve)",
    method: "Rank",
    body: { history: [], candidates: [] },
    error: invalid("candidates", "must NOT have fewer than 1 items"),
    only: "http",
  },
  {
    name: "candidates over maxCandidates",
    method: "Rank",
    body: { history: [], candidates: ids(41) },
    error: invalid("candidates", "must NOT have more than 40 items"),
  },
  {
    name: "empty candidate id",
    method: "Rank",
    body: { history: [], candidates: ["N1", ""] },
    error: invalid("candidates/1", "must NOT have fewer than 1 characters"),
  },
  {
    name: "rerank without k returns every known candidate",
    method: "Rank",
    body: { history: ["N1"], candidates: [...ids(25, "N"), "unknown-1"] },
    check: (a) => {
      assert.equal(a.mode, "rerank");
      assert.equal(a.items.length, 25);
    },
  },
  { name: "rerank k caps", method: "Rank", body: { history: ["N1"], candidates: ids(25), k: 3 }, check: items(3) },
  { name: "rerank k never pads", method: "Rank", body: { history: ["N1"], candidates: ids(5), k: 20 }, check: items(5) },
  { name: "empty filter", method: "Rank", body: { history: ["N1"], filter: {} }, check: items(10) },
  {
    name: "empty category list (absent in proto3)",
    method: "Rank",
    body: { history: [], filter: { categories: [] } },
    error: invalid("filter/categories", "must NOT have fewer than 1 items"),
    only: "http",
  },
  {
    name: "empty category",
    method: "Rank",
    body: { history: [], filter: { categories: [""] } },
    error: invalid("filter/categories/0", "must NOT have fewer than 1 characters"),
  },
  { name: "maxAgeHours 0", method: "Rank", body: { history: [], filter: { maxAgeHours: 0 } }, error: invalid("filter/maxAgeHours", "must be > 0") },
  { name: "unknown field", method: "Rank", body: { history: [], colour: "red" }, error: invalid("colour", "is not a known field"), only: "http" },
  {
    name: "unknown filter field",
    method: "Rank",
    body: { history: [], filter: { colour: "red" } },
    error: invalid("filter/colour", "is not a known field"),
    only: "http",
  },
  // upsert: dates, strings, arrays, duplicates
  { name: "publishedAt in UTC", method: "UpsertNews", body: { items: [item({ publishedAt: "2024-05-01T12:00:00Z" })] }, check: upserted(1) },
  {
    name: "publishedAt with an offset and fractions",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "2024-05-01T12:00:00.123+02:00" })] },
    check: upserted(1),
  },
  { name: "publishedAt with a space for T", method: "UpsertNews", body: { items: [item({ publishedAt: "2024-05-01 12:00:00Z" })] }, check: upserted(1) },
  {
    name: "publishedAt on a leap second (Date.parse cannot read it)",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "2016-12-31T23:59:60Z" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  { name: "publishedAt in lower case", method: "UpsertNews", body: { items: [item({ publishedAt: "2024-05-01t12:00:00z" })] }, check: upserted(1) },
  {
    name: "publishedAt without a time zone",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "2024-05-01T12:00:00" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  {
    name: "publishedAt a date only",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "2024-05-01" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  {
    name: "publishedAt on 30 February",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "2024-02-30T00:00:00Z" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  {
    name: "publishedAt in words",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "yesterday" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  {
    name: "publishedAt empty",
    method: "UpsertNews",
    body: { items: [item({ publishedAt: "" })] },
    error: invalid("items/0/publishedAt", 'must match format "date-time"'),
  },
  {
    name: "a full item",
    method: "UpsertNews",
    body: { items: [item({ abstract: "", category: "weather", subcategory: "storms", url: "https://example.com/c1" })] },
    check: upserted(1),
  },
  { name: "empty id", method: "UpsertNews", body: { items: [item({ id: "" })] }, error: invalid("items/0/id", "must NOT have fewer than 1 characters") },
  {
    name: "empty title",
    method: "UpsertNews",
    body: { items: [item({ title: "" })] },
    error: invalid("items/0/title", "must NOT have fewer than 1 characters"),
  },
  { name: "blank title", method: "UpsertNews", body: { items: [item({ title: "   " })] }, error: invalid("items/0/title") },
  {
    name: "title absent (empty in proto3)",
    method: "UpsertNews",
    body: { items: [{ id: "C1" }] },
    error: invalid("items/0/title", "is required"),
    only: "http",
  },
  { name: "no items", method: "UpsertNews", body: { items: [] }, error: invalid("items", "must NOT have fewer than 1 items") },
  { name: "items absent", method: "UpsertNews", body: {}, error: invalid("items", "must NOT have fewer than 1 items"), only: "grpc" },
  {
    name: "too many items",
    method: "UpsertNews",
    body: { items: ids(1001).map((id) => ({ id, title: "t" })) },
    error: invalid("items", "must NOT have more than 1000 items"),
  },
  {
    name: "duplicate ids in one batch",
    method: "UpsertNews",
    body: { items: [item(), item({ title: "again" })] },
    error: invalid("items/1/id", "duplicate id C1 in one batch"),
  },
  {
    name: "unknown item field",
    method: "UpsertNews",
    body: { items: [item({ colour: "red" })] },
    error: invalid("items/0/colour", "is not a known field"),
    only: "http",
  },
  // news by id
  { name: "get a known id", method: "GetNews", body: { id: "N7" }, check: (a) => assert.equal(a.id, "N7") },
  { name: "get an unknown id", method: "GetNews", body: { id: "nope" }, error: bad("NOT_FOUND", undefined, "news nope not found") },
  { name: "get an id too long", method: "GetNews", body: { id: "x".repeat(257) }, error: invalid("id", "must NOT have more than 256 characters") },
  { name: "get an empty id", method: "GetNews", body: { id: "" }, error: invalid("id", "must NOT have fewer than 1 characters") },
  { name: "delete an empty id", method: "DeleteNews", body: { id: "" }, error: invalid("id", "must NOT have fewer than 1 characters") },
  { name: "delete an unknown id", method: "DeleteNews", body: { id: "nope" }, error: bad("NOT_FOUND", undefined, "news nope not found") },
  { name: "delete an id too long", method: "DeleteNews", body: { id: "x".repeat(257) }, error: invalid("id", "must NOT have more than 256 characters") },
];

type Outcome = { ok: true; answer: Answer } | { ok: false; status: number; code: ErrorCode | undefined; field: string | undefined; message: string };

describe("the request contract is the same over HTTP and gRPC", () => {
  let s: Running;
  let client: any;
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${TOKEN}`);
  before(async () => {
    s = await startServer({ demoNews: 300, adminToken: TOKEN, ...LIMITS });
    client = grpcClient(s.grpcAddress, { "grpc.max_send_message_length": 16 << 20 });
  });
  after(async () => {
    client.close();
    await s.close();
  });

  async function overHttp(row: Row): Promise<Outcome> {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const id = encodeURIComponent(String(row.body.id));
    const [method, path, body] =
      row.method === "Rank"
        ? ["POST", "/rank", row.body]
        : row.method === "UpsertNews"
          ? ["PUT", "/news", row.body]
          : [row.method === "GetNews" ? "GET" : "DELETE", `/news/${id}`, undefined];
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { ...auth, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const answer = (await res.json()) as Answer;
    if (res.ok) return { ok: true, answer };
    return { ok: false, status: res.status, code: answer.error.code, field: answer.error.field, message: answer.error.message };
  }

  async function overGrpc(row: Row): Promise<Outcome> {
    try {
      return { ok: true, answer: await call<Answer>(client, row.method, row.body, { metadata }) };
    } catch (e) {
      const err = e as grpc.ServiceError;
      const one = (key: string) => err.metadata.get(key)[0] as string | undefined;
      return { ok: false, status: err.code, code: one("newsrec-error-code") as ErrorCode | undefined, field: one("newsrec-field"), message: err.details };
    }
  }

  function expectOutcome(row: Row, o: Outcome, transport: "http" | "grpc"): void {
    const where = `${row.name} over ${transport}`;
    if (!row.error) {
      assert.ok(o.ok, `${where}: ${JSON.stringify(o)}`);
      row.check?.(o.answer);
      return;
    }
    assert.ok(!o.ok, `${where}: accepted`);
    assert.equal(o.status, CATALOGUE[row.error.code][transport], `${where}: ${o.message}`);
    if (transport === "grpc" && row.foreignGrpcMessage) return;
    assert.equal(o.code, row.error.code, where);
    assert.equal(o.field, row.error.field, where);
    if (row.error.field) assert.ok(o.message.startsWith(`${row.error.field}: `), `${where}: ${o.message}`);
    if (row.error.message) assert.equal(o.message, row.error.message, where);
  }

  for (const row of rows) {
    test(`${row.method}: ${row.name}${row.only ? ` (${row.only} only)` : ""}`, async () => {
      const h = row.only === "grpc" ? null : await overHttp(row);
      const g = row.only === "http" ? null : await overGrpc(row);
      if (h) expectOutcome(row, h, "http");
      if (g) expectOutcome(row, g, "grpc");
      if (!h || !g) return;
      if (h.ok && g.ok && row.method === "Rank") {
        assert.deepEqual(
          g.answer.items.map((i: Answer) => i.newsId),
          h.answer.items.map((i: Answer) => i.newsId),
        );
      }
      if (!h.ok && !g.ok && !row.foreignGrpcMessage) {
        assert.equal(g.field, h.field);
        assert.equal(g.message, h.message);
      }
    });
  }
});
