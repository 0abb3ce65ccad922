/**
 * proto3 does not send what equals its default: an empty list, an empty string, 0 or false
 * arrive as nothing at all. A decoded message gets those values back for every field the schema
 * requires, so that `items: []` over protobuf is refused as "items: must NOT have fewer than 1
 * items" exactly as over JSON, and a missing news id is the empty id it stands for. Optional
 * fields stay absent: absent `k`, `candidates` or `filter` mean "not given" on both transports.
 * Message fields have presence in proto3 and are never filled in.
 */
import type { TSchema } from "@sinclair/typebox";

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
}

const ZERO: Record<string, () => unknown> = { array: () => [], string: () => "", integer: () => 0, number: () => 0, boolean: () => false };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** value with proto3's implicit defaults made explicit where schema requires the field. */
export function withProto3Defaults(schema: TSchema, value: unknown): unknown {
  const s = schema as JsonSchema;
  if (s.type === "array" && Array.isArray(value) && s.items) return value.map((v) => withProto3Defaults(s.items as TSchema, v));
  if (s.type !== "object" || !isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [key, sub] of Object.entries(s.properties ?? {})) {
    if (out[key] === undefined) {
      const zero = s.required?.includes(key) ? ZERO[sub.type ?? ""] : undefined;
      if (zero) out[key] = zero();
    } else {
      out[key] = withProto3Defaults(sub as TSchema, out[key]);
    }
  }
  return out;
}
