/**
 * Validation of decoded protobuf messages against the same schemas as the HTTP JSON
 * bodies, so that both transports accept exactly the same requests.
 */
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { invalid } from "../errors.ts";

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

export function check<T>(schema: TSchema, value: unknown, root = ""): T {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  if (c.Check(value)) return value as T;
  const e = c.Errors(value).First()!;
  const field = [root, e.path.replace(/^\//, "")].filter(Boolean).join("/") || "body";
  throw invalid(field, e.message.toLowerCase());
}
