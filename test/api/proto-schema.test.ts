/**
 * The proto file against the one definition of the requests (src/api/schemas.ts): every message
 * has the schema's fields, no more and no fewer (names as protobufjs gives them, camelCase), a
 * list where the schema has a list, the same scalar types, and explicit presence (`optional`)
 * exactly where the schema's field is optional. So the proto cannot drift from what the server
 * validates, and every proto method has an operation behind it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { Type, type TSchema } from "@sinclair/typebox";
import { NewsItem, newsParams, rankBody, upsertBody } from "../../src/api/schemas.ts";
import { OPERATIONS } from "../../src/api/operations.ts";
import { messageType, RECOMMENDER_METHODS } from "../../src/wire/proto.ts";

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
}

const JSON_TYPE: Record<string, string> = {
  string: "string",
  bool: "boolean",
  double: "number",
  float: "number",
  int32: "integer",
  sint32: "integer",
  sfixed32: "integer",
  int64: "integer",
  sint64: "integer",
  sfixed64: "integer",
  uint32: "integer",
  fixed32: "integer",
  uint64: "integer",
  fixed64: "integer",
};
const UNSIGNED = new Set(["uint32", "fixed32", "uint64", "fixed64"]);

/** Every disagreement between a message and a schema, as "Message.field: what". */
function disagreements(type: protobuf.Type, schema: JsonSchema, path = type.name): string[] {
  const out: string[] = [];
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields = new Map(type.fieldsArray.map((f) => [f.name, f]));
  for (const name of Object.keys(props)) if (!fields.has(name)) out.push(`${path}.${name}: in the schema, not in the proto`);
  for (const [name, f] of fields) {
    const at = `${path}.${name}`;
    const s = props[name];
    if (!s) {
      out.push(`${at}: in the proto, not in the schema`);
      continue;
    }
    if (f.repeated !== (s.type === "array")) out.push(`${at}: repeated ${f.repeated}, schema type ${s.type}`);
    const value = f.repeated ? (s.items ?? {}) : s;
    if (f.resolvedType instanceof protobuf.Type) {
      if (value.type !== "object") out.push(`${at}: message ${f.type}, schema type ${value.type}`);
      else out.push(...disagreements(f.resolvedType, value, at));
    } else {
      if (JSON_TYPE[f.type] !== value.type) out.push(`${at}: ${f.type}, schema type ${value.type}`);
      if (UNSIGNED.has(f.type) && !(typeof value.minimum === "number" && value.minimum >= 0)) out.push(`${at}: ${f.type} but the schema allows negatives`);
    }
    // proto3 sends a plain scalar's default as nothing, so only an `optional` field can say "not given".
    const explicit = f.options?.proto3_optional === true;
    if (!f.repeated && explicit === required.has(name))
      out.push(`${at}: ${explicit ? "optional" : "not optional"} in the proto, ${required.has(name) ? "required" : "optional"} in the schema`);
  }
  return out;
}

const limits = { maxHistory: 10, maxCandidates: 10 };
/** What a rank answers per item: the news item with newsId for id, and its score. */
const rankedItem = Type.Object({ newsId: Type.String(), score: Type.Number(), ...Type.Omit(NewsItem, ["id"]).properties });

const pairs: [string, TSchema][] = [
  ["RankRequest", rankBody(limits)],
  ["UpsertNewsRequest", upsertBody],
  ["News", NewsItem],
  ["GetNewsRequest", newsParams],
  ["DeleteNewsRequest", newsParams],
  ["RankedItem", rankedItem],
];

for (const [message, schema] of pairs) {
  test(`proto ${message} agrees with its schema field for field`, () => {
    assert.deepEqual(disagreements(messageType(message), schema as JsonSchema), []);
  });
}

test("the check sees a drift: a renamed, a retyped and a no longer optional field", () => {
  const drifted = Type.Object({ userID: Type.Optional(Type.String()), history: Type.String(), k: Type.Integer({ minimum: 1 }) });
  const found = disagreements(messageType("RankRequest"), drifted as JsonSchema).join("\n");
  for (const what of [
    "RankRequest.userID: in the schema",
    "RankRequest.userId: in the proto",
    "RankRequest.history: repeated true",
    "RankRequest.k: optional in the proto, required",
  ])
    assert.ok(found.includes(what), `${what} in\n${found}`);
});

test("every method of the proto service is an operation of the API, and the reverse", () => {
  assert.deepEqual(RECOMMENDER_METHODS.map((m) => m.name).sort(), Object.keys(OPERATIONS).sort());
  for (const m of RECOMMENDER_METHODS) assert.ok(messageType(m.request) && messageType(m.response), m.name);
});
