/**
 * The one validator engine of the server: ajv (fastify's own engine) with ajv-formats, one
 * compiled function per schema, and one function turning its first error into the NewsrecError a
 * client sees. HTTP and gRPC both call it, so one request gets one answer, word for word, whatever
 * carried it.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import formatsModule from "ajv-formats";
import type { TSchema } from "@sinclair/typebox";
import { invalid, type NewsrecError } from "../errors.ts";

// ajv-formats is CommonJS; under NodeNext its default export is the module's `default` property.
const formats = formatsModule.default;

const ajv = new Ajv({
  // Report the first error only: an answer names one field, and a hostile body with thousands
  // of bad items costs no more than one with a single bad item.
  allErrors: false,
  // Never change what was sent: no coercion ("3" is not 3), no defaults filled in, nothing removed.
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
});
formats(ajv);
// RFC 3339 date-time with a time zone, as ajv-formats checks it (real calendar days, hours,
// offsets), and one that Date.parse reads too: the catalog orders and filters by Date.parse, and
// would otherwise file a leap second (23:59:60) as undated.
const rfc3339 = formats.get("date-time") as { validate: (s: string) => boolean };
ajv.addFormat("date-time", { type: "string", validate: (s: string) => rfc3339.validate(s) && Number.isFinite(Date.parse(s)) });

const compiled = new WeakMap<TSchema, ValidateFunction>();

/** The INVALID_ARGUMENT for an ajv error: "history/3: must NOT have fewer than 1 characters". */
export function validationError(e: ErrorObject): NewsrecError {
  const path = e.instancePath.replace(/^\//, "");
  const extra = e.params as { missingProperty?: string; additionalProperty?: string };
  const field = [path, extra.missingProperty ?? extra.additionalProperty].filter(Boolean).join("/") || "body";
  const what = e.keyword === "additionalProperties" ? "is not a known field" : e.keyword === "required" ? "is required" : (e.message ?? "is invalid");
  return invalid(field, what);
}

/** value as T when it matches schema; otherwise throws the INVALID_ARGUMENT naming the field. */
export function validate<T>(schema: TSchema, value: unknown): T {
  let fn = compiled.get(schema);
  if (!fn) compiled.set(schema, (fn = ajv.compile(schema)));
  if (fn(value)) return value as T;
  throw validationError(fn.errors![0]!);
}
