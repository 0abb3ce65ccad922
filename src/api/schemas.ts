/**
 * The one definition of every request: the JSON schemas both transports validate against, and the
 * domain types derived from them (Static<>), so a field added here is a field the server knows
 * everywhere. The proto messages are checked against these schemas field for field
 * (test/api/proto-schema.test.ts). Unknown fields are refused, never dropped.
 */
import { Type, type Static } from "@sinclair/typebox";
import { MAX_K } from "../rank/service.ts";

const NewsId = Type.String({ minLength: 1, maxLength: 256 });

export interface RankLimits {
  maxHistory: number;
  maxCandidates: number;
}

export function rankBody(limits: RankLimits) {
  return Type.Object(
    {
      userId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      history: Type.Array(NewsId, { maxItems: limits.maxHistory }),
      candidates: Type.Optional(Type.Array(NewsId, { minItems: 1, maxItems: limits.maxCandidates })),
      // Absent: every known candidate (rerank), DEFAULT_K items (retrieve).
      k: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_K })),
      filter: Type.Optional(
        Type.Object(
          {
            categories: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 100 })),
            maxAgeHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6 })),
          },
          { additionalProperties: false },
        ),
      ),
      excludeHistory: Type.Optional(Type.Boolean()),
      explain: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  );
}

export const NewsItem = Type.Object(
  {
    id: NewsId,
    title: Type.String({ minLength: 1, maxLength: 2000, pattern: "\\S" }),
    abstract: Type.Optional(Type.String({ maxLength: 20000 })),
    category: Type.Optional(Type.String({ maxLength: 128 })),
    subcategory: Type.Optional(Type.String({ maxLength: 128 })),
    // RFC 3339 with a time zone, and one Date.parse reads (see src/api/validator.ts).
    publishedAt: Type.Optional(Type.String({ format: "date-time" })),
    url: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

export const upsertBody = Type.Object({ items: Type.Array(NewsItem, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });

export const newsParams = Type.Object({ id: NewsId }, { additionalProperties: false });

export type RankRequest = Static<ReturnType<typeof rankBody>>;
export type NewsItem = Static<typeof NewsItem>;
export type UpsertRequest = Static<typeof upsertBody>;
export type NewsParams = Static<typeof newsParams>;
