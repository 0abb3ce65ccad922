/** The one place HTTP turns thrown errors into responses, from the error catalogue. */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { asNewsrecError, NewsrecError } from "../errors.ts";

/** Request validation throws NewsrecErrors (src/api/); what is left is fastify's own refusals. */
export function toNewsrecError(err: FastifyError): NewsrecError {
  if (err instanceof NewsrecError) return err;
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new NewsrecError("PAYLOAD_TOO_LARGE", "request body is larger than the server accepts");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new NewsrecError("UNSUPPORTED_MEDIA_TYPE", "send application/json");
    case "FST_ERR_BAD_URL":
      return new NewsrecError("INVALID_ARGUMENT", "url: not a valid percent-encoded path", { field: "url" });
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
