/**
 * The bundle manifest's schema is one file, models/manifest.schema.json: the exporter
 * (models/training/manifest_schema.py) validates against it before writing a bundle and the server
 * validates against it here, with ajv, on loading one. ManifestSchema below mirrors it in TypeBox
 * only to give TypeScript the Manifest type; test/model/manifest-schema.test.ts holds the mirror
 * equal to the file, keyword for keyword (descriptions aside), so the two cannot drift.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject } from "ajv";
import { Type, type Static } from "@sinclair/typebox";

/** Beside src/ in a checkout and beside dist/ in a build (both keep the same layout). */
export const MANIFEST_SCHEMA_PATH = fileURLToPath(new URL("../../models/manifest.schema.json", import.meta.url));

const Sha256 = Type.String({ pattern: "^[0-9a-f]{64}$" });
const FileName = Type.String({ minLength: 1 });
const TextIo = Type.Object({ ids: Type.String(), mask: Type.String() });

const TextEncoder = Type.Object({ file: FileName, inputs: TextIo, outputs: Type.Object({ vector: Type.String() }) }, { additionalProperties: true });

const NewsField = Type.Union([Type.Literal("category"), Type.Literal("subcategory"), Type.Literal("title"), Type.Literal("abstract")]);

const UserEncoder = Type.Union([
  Type.Object({
    file: FileName,
    input: Type.Literal("news_vectors"),
    inputs: Type.Object({ vectors: Type.String(), mask: Type.String() }),
    outputs: Type.Object({ vector: Type.String(), attention: Type.Optional(Type.String()) }),
  }),
  Type.Object({
    file: FileName,
    input: Type.Literal("history_titles"),
    inputs: TextIo,
    outputs: Type.Object({ vector: Type.String() }),
  }),
  // FUM: the clicked news vectors and the token ids of the last tokens.maxNews clicks.
  Type.Object({
    file: FileName,
    input: Type.Literal("news_tokens_and_vectors"),
    inputs: Type.Object({ vectors: Type.String(), mask: Type.String(), tokenIds: Type.String(), tokenMask: Type.String() }),
    outputs: Type.Object({ vector: Type.String(), attention: Type.Optional(Type.String()) }),
    tokens: Type.Object(
      {
        fields: Type.Array(NewsField, { minItems: 1 }),
        maxLength: Type.Integer({ minimum: 1, maximum: 4096 }),
        maxNews: Type.Integer({ minimum: 1, maximum: 10_000 }),
      },
      { additionalProperties: false },
    ),
  }),
]);

const Metric = Type.Number({ minimum: 0, maximum: 1 });

export const ManifestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    version: Type.String({ minLength: 1 }),
    architecture: Type.Union([Type.Literal("hierarchical"), Type.Literal("siamese"), Type.Literal("fum")]),
    dimension: Type.Integer({ minimum: 1, maximum: 4096 }),
    similarity: Type.Literal("dot"),
    tokenizer: Type.Object(
      {
        file: FileName,
        vocabSize: Type.Integer({ minimum: 3 }),
        padId: Type.Integer({ minimum: 0 }),
        unkId: Type.Integer({ minimum: 0 }),
        sepId: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    newsInput: Type.Object(
      {
        fields: Type.Array(NewsField, { minItems: 1 }),
        maxLength: Type.Integer({ minimum: 1, maximum: 4096 }),
      },
      { additionalProperties: false },
    ),
    userInput: Type.Object(
      { maxHistory: Type.Integer({ minimum: 1, maximum: 10_000 }), maxLength: Type.Integer({ minimum: 1, maximum: 4096 }) },
      { additionalProperties: false },
    ),
    encoders: Type.Object({ news: TextEncoder, user: UserEncoder }, { additionalProperties: false }),
    files: Type.Record(Type.String(), Sha256),
    fingerprint: Sha256,
    opset: Type.Optional(Type.Integer({ minimum: 1 })),
    newsVectorNorm: Type.Optional(
      Type.Object({ max: Type.Number({ exclusiveMinimum: 0 }), p99: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false }),
    ),
    validation: Type.Optional(
      Type.Object({
        auc: Type.Optional(Metric),
        mrr: Type.Optional(Metric),
        ndcg5: Type.Optional(Metric),
        ndcg10: Type.Optional(Metric),
        impressions: Type.Optional(Type.Integer({ minimum: 0 })),
        skipped: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
      }),
    ),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;

/**
 * The field an error is about, as a JSON pointer. A missing or unknown key is named itself, not
 * its parent object, so "/tokenizer/padId" reads the same whether the value is wrong or absent.
 */
function fieldOf(e: ErrorObject): string {
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  const key = p.missingProperty ?? p.additionalProperty;
  return key === undefined ? e.instancePath || "/" : `${e.instancePath}/${key}`;
}

/** A union of constants fails once per constant: name them all ("must be one of …"). */
function describe(e: ErrorObject, all: ErrorObject[]): string {
  if (e.keyword === "additionalProperties") return "is not a known field";
  if (e.keyword === "required") return "is required";
  if (e.keyword === "const") {
    const allowed = all
      .filter((x) => x.keyword === "const" && x.instancePath === e.instancePath)
      .map((x) => JSON.stringify((x.params as { allowedValue: unknown }).allowedValue));
    return allowed.length > 1 ? `must be one of ${allowed.join(", ")}` : `must be ${allowed[0]}`;
  }
  return e.message ?? "is invalid";
}

/**
 * Of the errors (ajv reports the first of each union branch), the one at the deepest field. The
 * user encoder is a union: a siamese manifest also fails the hierarchical branch, at its "input",
 * above the real error; the deepest error is in the branch that got furthest.
 * models/training/manifest_schema.py picks the same way, so both name the same field.
 */
function deepest(errors: ErrorObject[]): ErrorObject {
  const depth = (e: ErrorObject) => fieldOf(e).split("/").length;
  return errors.reduce((best, e) => (depth(e) > depth(best) ? e : best));
}

let compiled: ((v: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** null when the manifest is valid; otherwise "at /field: what is wrong". */
export function manifestProblem(raw: unknown): string | null {
  if (!compiled) {
    let schema: unknown;
    try {
      schema = JSON.parse(readFileSync(MANIFEST_SCHEMA_PATH, "utf8"));
    } catch (err) {
      throw new Error(`cannot read the manifest schema ${MANIFEST_SCHEMA_PATH}: ${(err as Error).message}`);
    }
    // Nothing coerced, defaulted or removed: a bundle loads as written or not at all.
    compiled = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false }).compile(schema as object);
  }
  if (compiled(raw)) return null;
  const errors = compiled.errors ?? [];
  if (!errors.length) return "at /: is invalid";
  const e = deepest(errors);
  return `at ${fieldOf(e)}: ${describe(e, errors)}`;
}
