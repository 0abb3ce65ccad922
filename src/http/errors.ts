/** The one place HTTP turns thrown errors into responses, from the error catalogue. */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { asNewsrecError, NewsrecError } from "../errors.ts";

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** "body/history/3", "body/filter/colour": the field a validation error is about. */
function fieldOf(e: AjvError, context: string | undefined): string {
  const path = e.instancePath.replace(/^\//, "");
  const extra = (e.params.missingProperty ?? e.params.additionalProperty) as string | undefined;
  return [path, extra].filter(Boolean).join("/") || context || "body";
}

export function toNewsrecError(err: FastifyError & { validation?: AjvError[]; validationContext?: string }): NewsrecError {
  if (err instanceof NewsrecError) return err;
  if (err.validation?.length) {
    const e = err.validation[0]!;
    const field = fieldOf(e, err.validationContext);
    const what = e.keyword === "additionalProperties" ? "is not a known field" : e.keyword === "required" ? "is required" : (e.message ?? "is invalid");
    return new NewsrecError("INVALID_ARGUMENT", `${field}: ${what}`, { field });
  }
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new NewsrecError("PAYLOAD_TOO_LARGE", "request body is larger than the server accepts");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new NewsrecError("UNSUPPORTED_MEDIA_TYPE", "send application/json");
  }
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
    // Fastify's own 4xx: malformed JSON, an empty body, a forbidden __proto__ key.
    return new NewsrecError("INVALID_ARGUMENT", `body: ${err.message}`, { field: "body" });
  }
  return asNewsrecError(err);
}

export function sendError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toNewsrecError(err);
  if (e.code === "INTERNAL") req.log.error({ err }, "internal error");
  if (e.retryAfter) reply.header("retry-after", String(e.retryAfter));
  return reply.status(e.httpStatus).send({ error: e.toJSON() });
}
